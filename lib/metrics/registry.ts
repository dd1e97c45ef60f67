import { collectDefaultMetrics, Registry } from 'prom-client'

/**
 * A process's own registry with Node's and the process's default metrics.
 * Never prom-client's global one: two processes built in one test process
 * would register the same names twice.
 */
export function processRegistry(): Registry {
  const register = new Registry()
  collectDefaultMetrics({ register })
  return register
}

/** The body and content type of `GET /metrics`. */
export async function scrape(register: Registry): Promise<{ contentType: string; body: string }> {
  return { contentType: register.contentType, body: await register.metrics() }
}
