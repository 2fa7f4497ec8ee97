export { syncUser, type SyncUserOptions, type SyncUserSummary } from './sync-user';
export { replayEvents, type ReplayOptions, type ReplaySummary } from './replay-events';
