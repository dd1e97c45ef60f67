import { createLogger, silentLogger, type Logger } from '../../lib/core/logger.js'
import assert from 'node:assert/strict'
import { ConfigError, loadAgentConfig, loadSidecarConfig, type AgentConfig, type SidecarConfig } from '../../config/index.js'

// What tests choose over the defaults: loopback, any free ports, quiet logs,
// and no free-disk floor (tests must not depend on how full this machine's disk is).
const forTests = { listen: { host: '127.0.0.1', port: 0 }, advertiseHost: '127.0.0.1', peerPort: 0, minFreeDiskBytes: 0, logLevel: 'silent' } as const

/** A sidecar config for tests: the defaults a start with only the required options gets, then `forTests`, then `over`. */
export function sidecarConfig(over: Partial<SidecarConfig> & Pick<SidecarConfig, 'origin' | 'dataDir'>): SidecarConfig {
  const defaults = loadSidecarConfig(['--origin', over.origin, '--data-dir', over.dataDir]).config
  assert.ok(defaults)
  return { ...defaults, ...forTests, queueMax: 1000, intakeRetryForMs: 60_000, ...over }
}

export function agentConfig(over: Partial<AgentConfig> & Pick<AgentConfig, 'sidecars' | 'upstreams' | 'dataDir'>): AgentConfig {
  const defaults = loadAgentConfig(['--sidecar', 'http://127.0.0.1:1', '--upstream', 'http://127.0.0.1:1', '--data-dir', over.dataDir]).config
  assert.ok(defaults)
  return { ...defaults, ...forTests, p2pStallTimeoutMs: 5000, ...over }
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
