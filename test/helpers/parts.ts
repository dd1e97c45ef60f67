import { systemClock } from '../../lib/core/clock.js'
import type { Logger } from '../../lib/core/logger.js'
import { runAgent, type RunningAgent } from '../../plugin/run.js'
import { runSidecar, type RunningSidecar } from '../../sidecar/run.js'
import type { AgentConfig, SidecarConfig } from '../../config/index.js'
import { agentConfig, sidecarConfig, testLogger } from './configs.js'

/** Sidecars and agents a test runs in its own process against one origin; `close` stops them all, last first. */
export class Parts {
  private readonly closers: Array<() => Promise<unknown>> = []

  constructor(private readonly origin: () => string) {}

  async sidecar(dataDir: string, over: Partial<SidecarConfig> = {}, logger: Logger = testLogger('sidecar')): Promise<RunningSidecar> {
    const s = await runSidecar({ config: sidecarConfig({ origin: this.origin(), dataDir, ...over }), logger, clock: systemClock })
    this.closers.push(() => s.close())
    return s
  }

  async agent(dataDir: string, sidecars: string[], over: Partial<AgentConfig> = {}, logger: Logger = testLogger('agent')): Promise<RunningAgent> {
    const a = await runAgent({ config: agentConfig({ dataDir, sidecars, upstreams: [this.origin()], ...over }), logger, clock: systemClock })
    this.closers.push(() => a.close())
    return a
  }

  async close(): Promise<void> {
    for (const c of this.closers.splice(0).reverse()) await c().catch(() => undefined)
  }
}
