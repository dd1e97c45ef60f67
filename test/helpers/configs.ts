import { createLogger, silentLogger, type Logger } from '../../lib/core/logger.js'
import assert from 'node:assert/strict'
import { cacheDefaults, ConfigError, type AgentConfig, type SidecarConfig } from '../../config/index.js'

// No free-disk floor: tests must not depend on how full this machine's disk is.
const cache = { ...cacheDefaults(), minFreeDiskBytes: 0 }

/** A sidecar config for tests: loopback, any free ports, quiet logs. */
export function sidecarConfig(over: Partial<SidecarConfig> & Pick<SidecarConfig, 'origin' | 'dataDir'>): SidecarConfig {
  return {
    ...cache,
    listen: { host: '127.0.0.1', port: 0 },
    advertiseHost: '127.0.0.1',
    peerPort: 0,
    fetchConcurrency: 4,
    queueMax: 1000,
    intakeRetryForMs: 60_000,
    webhookConcurrency: 32,
    swarmCredentialTtlMs: 3_600_000,
    logLevel: 'silent',
    ...over,
  }
}

export function agentConfig(over: Partial<AgentConfig> & Pick<AgentConfig, 'sidecars' | 'upstreams' | 'dataDir'>): AgentConfig {
  return {
    ...cache,
    listen: { host: '127.0.0.1', port: 0 },
    advertiseHost: '127.0.0.1',
    peerPort: 0,
    p2pStallTimeoutMs: 5000,
    httpMaxBytes: 1024 * 1024,
    httpAloneMaxBytes: 8 * 1024 * 1024,
    logLevel: 'silent',
    ...over,
  }
}

/** Quiet unless LAYERSEED_TEST_LOG names a level: then the parts log to stdout, to debug a failing test. */
export function testLogger(name: string): Logger {
  const level = process.env.LAYERSEED_TEST_LOG
  return level ? createLogger(level, name) : silentLogger()
}

/**
 * The process's own logger (redaction included) keeping its JSON lines, for
 * tests that check what an operator would read, or that no secret is in it.
 */
export function capturingLogger(level = 'info', name = 'test'): { logger: Logger; lines: string[]; has(re: RegExp): boolean; text(): string } {
  const lines: string[] = []
  const logger = createLogger(level, name, { write: (s: string) => void lines.push(s) })
  return { logger, lines, has: (re) => lines.some((l) => re.test(l)), text: () => lines.join('') }
}

/** The problems a config load reports; fails the test when it reports none. */
export function problemsOf(fn: () => unknown): Array<{ key: string; message: string }> {
  try {
    fn()
  } catch (err) {
    if (err instanceof ConfigError) return [...err.problems]
    throw err
  }
  assert.fail('expected a ConfigError')
}
