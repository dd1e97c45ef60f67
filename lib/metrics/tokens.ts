import { Counter, type Registry } from 'prom-client'

/** How a registry token check ended: the refusals are the guard's. */
export type TokenCheckResult = 'ok' | 'missing' | 'invalid' | 'denied'

/** Token checks at the blob doors (token auth only), by result. */
export function tokenMetrics(register: Registry): (result: TokenCheckResult) => void {
  const checks = new Counter({ name: 'layerseed_token_checks_total', help: 'Registry token checks at the blob routes, by result', labelNames: ['result'], registers: [register] })
  return (result) => checks.inc({ result })
}
