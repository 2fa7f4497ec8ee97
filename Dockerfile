# syntax=docker/dockerfile:1
# Multi-stage build of the payments service. It cannot be built on the development machines (no
# Docker engine there); CI builds and pushes it on merge, tagged with the commit.

FROM node:20-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY service ./service
COPY sandbox ./sandbox
RUN npm run build

FROM node:20-bookworm-slim AS deps
WORKDIR /app
COPY package.json package-lock.json ./
# Production dependencies only.
RUN npm ci --omit=dev --no-audit --no-fund && npm cache clean --force

FROM node:20-bookworm-slim AS runtime
ENV NODE_ENV=production \
    PORT=3000
WORKDIR /app
COPY --from=deps --chown=node:node /app/node_modules ./node_modules
COPY --from=build --chown=node:node /app/dist ./dist
COPY --chown=node:node package.json ./
# The image's built-in unprivileged user.
USER node
EXPOSE 3000
# Liveness only: readiness (database + Redis) is the ALB target group's /health/ready check.
HEALTHCHECK --interval=15s --timeout=3s --start-period=20s --retries=3 \
  CMD ["node", "-e", "require('http').get('http://127.0.0.1:'+(process.env.PORT||3000)+'/health/live',r=>process.exit(r.statusCode===200?0:1)).on('error',()=>process.exit(1))"]
# What `npm run serve` does, without tsx or npm in the process tree: SIGTERM reaches node directly.
CMD ["node", "dist/service/main.js"]
