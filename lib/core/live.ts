/**
 * A value the running process may be handed anew, such as a configuration
 * whose watched file was edited. Parts that must follow a field subscribe to
 * it (or read `current` when they act) instead of keeping the value.
 *
 * Contract: `current` is a frozen snapshot that never changes in place; a
 * listener runs after `current` has moved to `next`, only when one of the
 * fields it named changed, and an error it throws is the implementation's to
 * log, never the caller's.
 */
export interface Live<T extends object> {
  readonly current: T
  /** Calls fn with the new and the old snapshot whenever one of `fields` changes; returns the unsubscribe function. */
  subscribe<K extends keyof T>(fields: readonly K[], fn: (next: T, prev: T) => void): () => void
}
