export { opsRouter, type OpsRouterDeps } from './router';
export { closeRollbackMarker, lastMarker, openMarker, openRollbackMarker, recordMarkerDetails, type RollbackMarker, type RollbackScope } from './markers';
