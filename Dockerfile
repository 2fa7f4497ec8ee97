# syntax=docker/dockerfile:1
# Multi-stage build of the payments service. It cannot be built on the development machines (no
# Docker engine there); CI builds and pushes it on merge, tagged with the commit.

FROM node:20-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY service ./service
RUN npm run build

FROM node:20-bookworm-slim AS deps
WORKDIR /app
COPY package.json package-lock.json ./
# Production dependencies only: no PGlite, tsx or esbuild (development dependencies; the service loads
# PGlite only when no database server is configured, which production config refuses).
RUN npm ci --omit=dev --no-audit --no-fund && npm cache clean --force

# The RDS CA bundle (every region's root and intermediate CAs) that the service verifies the
# database's TLS certificate against in DATABASE_HOST mode (DATABASE_CA_FILE, default
# /app/certs/rds-global-bundle.pem). Downloaded when CI builds the image (the runners have internet;
# the development machines cannot build images at all), from the address the RDS user guide gives
# ("Using SSL/TLS to encrypt a connection to a DB instance": certificate bundles for all AWS Regions).
# Not pinned by checksum on purpose: AWS adds new CAs to this file. A failed download, or a file
# that is not a list of X.509 certificates, fails the build instead of shipping an image that
# cannot reach its database.
FROM node:20-bookworm-slim AS certs
ADD --chmod=644 https://truststore.pki.rds.amazonaws.com/global/global-bundle.pem /certs/rds-global-bundle.pem
RUN node -e "const { X509Certificate } = require('crypto'); \
  const pem = require('fs').readFileSync('/certs/rds-global-bundle.pem', 'utf8'); \
  const certs = pem.match(/-----BEGIN CERTIFICATE-----[^-]+-----END CERTIFICATE-----/g) || []; \
  if (certs.length === 0) throw new Error('no certificate in the RDS CA bundle'); \
  certs.forEach((c) => new X509Certificate(c)); \
  console.log(certs.length + ' RDS CA certificates');"

FROM node:20-bookworm-slim AS runtime
ENV NODE_ENV=production \
    PORT=3000
WORKDIR /app
COPY --from=deps --chown=node:node /app/node_modules ./node_modules
COPY --from=build --chown=node:node /app/dist ./dist
COPY --chown=node:node package.json ./
# Owned by root, readable by all: the service reads it, nothing in the container may change it.
COPY --from=certs /certs/rds-global-bundle.pem /app/certs/rds-global-bundle.pem
# The image's built-in unprivileged user.
USER node
EXPOSE 3000
# Liveness only: readiness (database + Redis) is the ALB target group's /health/ready check.
HEALTHCHECK --interval=15s --timeout=3s --start-period=20s --retries=3 \
  CMD ["node", "-e", "require('http').get('http://127.0.0.1:'+(process.env.PORT||3000)+'/health/live',r=>process.exit(r.statusCode===200?0:1)).on('error',()=>process.exit(1))"]
# What `npm run serve` does, without tsx or npm in the process tree: SIGTERM reaches node directly.
CMD ["node", "dist/service/main.js"]
