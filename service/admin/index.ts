export { adminRouter, type AdminRouterDeps } from './router';
