export { type Dashboard, loadDashboard } from './dashboard';
export { type DashboardQuery, parseDashboardQuery } from './query';
export { addContribution, moveUserContributions, rollupsFromLedger } from './rollups';
