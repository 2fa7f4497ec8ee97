export * from './maintenance';
export { maintenanceRouter, type MaintenanceRouterDeps } from './router';
