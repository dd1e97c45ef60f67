import { createLogger, silentLogger, type Logger } from '../../lib/logger.js'
import assert from 'node:assert/strict'
import { ConfigError, type AgentConfig, type SidecarConfig } from '../../config/index.js'

/** A sidecar config for tests: loopback, any free ports, quiet logs. */
export function sidecarConfig(over: Partial<SidecarConfig> & Pick<SidecarConfig, 'origin' | 'dataDir'>): SidecarConfig {
  return {
    listen: { host: '127.0.0.1', port: 0 },
    advertiseHost: '127.0.0.1',
    peerPort: 0,
    fetchConcurrency: 4,
    queueMax: 1000,
    swarmCredentialTtlMs: 3_600_000,
    logLevel: 'silent',
    ...over,
  }
}

export function agentConfig(over: Partial<AgentConfig> & Pick<AgentConfig, 'sidecars' | 'upstreams' | 'dataDir'>): AgentConfig {
  return {
    listen: { host: '127.0.0.1', port: 0 },
    advertiseHost: '127.0.0.1',
    peerPort: 0,
    p2pStallTimeoutMs: 5000,
    httpMaxBytes: 1024 * 1024,
    logLevel: 'silent',
    ...over,
  }
}

/** Quiet unless LAYERSEED_TEST_LOG names a level: then the parts log to stdout, to debug a failing test. */
export function testLogger(name: string): Logger {
  const level = process.env.LAYERSEED_TEST_LOG
  return level ? createLogger(level, name) : silentLogger()
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
