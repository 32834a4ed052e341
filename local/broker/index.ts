export type { BrokerOptions, LocalBroker } from './broker.ts';
export { startBroker, TTL_ATTRIBUTE } from './broker.ts';
export type { RetryPolicy } from './delivery.ts';
export { DEFAULT_RETRY, parseDurationMs } from './delivery.ts';
export type { EventPredicate } from './filter.ts';
export { lookupAttribute, triggerPredicate, UnsupportedFilter } from './filter.ts';
export type { DeliveryOutcome, DeliveryRecord, EventRecord } from './records.ts';
export { readRecords } from './records.ts';
