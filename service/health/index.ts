export { healthRouter, type HealthRouterDeps } from './router';
