import path from 'node:path'
import type { Registry } from 'prom-client'
import type { JoseTokenVerifier } from '../lib/auth/jose-verifier.js'
import { followKeyFiles } from '../lib/auth/live-keys.js'
import { authSettingsOf, tokenAuth } from '../lib/auth/setup.js'
import type { BlobCache, CacheHooks } from '../lib/cache/blob-cache.js'
import { openCache, restoreStored } from '../lib/cache/open.js'
import { CloseStack } from '../lib/core/close-stack.js'
import type { Clock } from '../lib/core/clock.js'
import type { Logger } from '../lib/core/logger.js'
import { bindHttp, localUrl } from '../lib/http/listen.js'
import { prepareDataDir } from '../lib/store/data-dir.js'
import { SidecarClient } from '../lib/protocol/client.js'
import { RegistryClient } from '../lib/registry/client.js'
import { RegistryTokenClient, type Credentials } from '../lib/registry/token-client.js'
import { followRate } from '../lib/swarm/rate-limit.js'
import { Swarm } from '../lib/swarm/swarm.js'
import { buildTorrent } from '../lib/swarm/torrent.js'
import type { AgentConfig } from '../config/index.js'
import { LiveConfig } from '../config/live-config.js'
import { PullAccess } from './access.js'
import { BlobRoute } from './blob-route.js'
import { emptyPeerZones, emptySources, Puller } from './puller.js'
import { buildAgentApp } from './server.js'
import { Upstreams } from './upstreams.js'
import { agentMetrics } from './metrics.js'
import { cacheMetrics } from '../lib/metrics/cache.js'
import { processRegistry, scrape } from '../lib/metrics/registry.js'
import { swarmMetrics } from '../lib/metrics/swarm.js'
import { tokenMetrics } from '../lib/metrics/tokens.js'

export interface RunningAgent {
  readonly port: number
  readonly peerPort: number
  readonly url: string
  readonly cache: BlobCache
  /** The swarm's peer counters, for metrics. */
  readonly peers: Pick<Swarm, 'bannedPeers' | 'connectedPeers'>
  /** This agent's metrics, as `GET /metrics` serves them. */
  readonly metrics: Registry
  readonly live: LiveConfig<AgentConfig>
  /** Resolves when blobs cached by an earlier run are verified and seeding again. */
  readonly restored: Promise<number>
  /** With token auth: the verifier (its key set can be reloaded). */
  readonly verifier?: JoseTokenVerifier
  close(): Promise<void>
}

export interface AgentRunOptions {
  readonly config: AgentConfig
  readonly logger: Logger
  readonly clock: Clock
  /** The running configuration, when a watched --config file may change it. The agent owns it and closes it. */
  readonly live?: LiveConfig<AgentConfig>
}

/** Node credentials by upstream URL: from --upstream-auth-file by host, else --upstream-username for the one upstream. */
function nodeCredentials(config: AgentConfig): Map<string, Credentials> {
  const out = new Map<string, Credentials>()
  for (const u of config.upstreams) {
    const fromFile = config.upstreamAuth?.[new URL(u).host]
    if (fromFile) out.set(u, fromFile)
    else if (config.upstreamUsername !== undefined && config.upstreamPassword !== undefined) out.set(u, { username: config.upstreamUsername, password: config.upstreamPassword })
  }
  return out
}

/**
 * The agent's composition root: binds its ports, then builds every part in
 * order, each handed what it needs, and serves. A part that fails to build
 * closes the ones before it.
 */
export async function runAgent(opts: AgentRunOptions): Promise<RunningAgent> {
  const { config, logger, clock } = opts
  Swarm.checkInternals()
  const live = opts.live ?? LiveConfig.fixed(config, logger)
  const closing = new CloseStack(logger)
  closing.push('config', () => live.close())
  return closing.build(async () => {
    await prepareDataDir('--data-dir', config.dataDir)
    const server = await bindHttp('--listen', config.listen.host, config.listen.port)
    closing.push('http server', () => server.close())
    const swarm = new Swarm({ peerPort: config.peerPort, role: 'agent', advertiseHost: config.advertiseHost, place: { zone: config.zone, rack: config.rack }, logger: logger.child({ part: 'swarm' }) })
    closing.push('swarm', () => swarm.close())
    const peerPort = await swarm.listening()
    // One registry per process, never the global one: agents and sidecars share a process in tests.
    const metrics = processRegistry()
    swarmMetrics(metrics, swarm)
    closing.push('download rate', followRate(live, 'downloadBytesPerSec', swarm.rates.download))
    closing.push('upload rate', followRate(live, 'uploadBytesPerSec', swarm.rates.upload))
    const sidecars = new SidecarClient(config.sidecars, Math.max(config.p2pStallTimeoutMs, 5_000), () => clock.now())
    const cacheMeter = cacheMetrics(metrics)

    // What the cache tells the process: peers taking a blob keep it, an evicted one stops seeding, a verified one seeds.
    const hooks: CacheHooks = {
      busy: (d) => swarm.uploading(d.hex),
      evicted: (d) => {
        cacheMeter.evicted()
        return swarm.removeNamed(d.hex)
      },
      verified: (info, hashes) => swarm.seed(buildTorrent(info.digest, hashes, sidecars.announceUrl).torrent, path.dirname(info.path)),
    }
    const { cache, close: closeCache } = await openCache({ dataDir: config.dataDir, live, clock, logger: logger.child({ part: 'cache' }), hooks })
    closing.push('cache', closeCache)
    cacheMeter.watch(cache)

    const upstreams = new Upstreams(config.upstreams)
    const auth = tokenAuth(authSettingsOf(config), clock, tokenMetrics(metrics))
    if (auth) closing.push('key files', await followKeyFiles({ live, verifier: auth.verifier, logger: logger.child({ part: 'auth' }) }))
    const own = new Map(
      [...nodeCredentials(config)].map(([u, credentials]) => [u, new RegistryTokenClient({ registry: u, credentials, clock, logger: logger.child({ part: 'node-auth', upstream: u }) })]),
    )
    const access = new PullAccess({ guard: auth?.guard, ownAuth: (u) => own.get(u), logger: logger.child({ part: 'access' }) })
    const origins = new Map(config.upstreams.map((u) => [u, new RegistryClient(u, undefined, own.get(u))]))
    const totals = emptySources()
    const peerZones = emptyPeerZones()
    const puller = new Puller({ store: cache, swarm, sidecars, logger: logger.child({ part: 'puller' }), clock, stallTimeoutMs: config.p2pStallTimeoutMs, inline: { max: config.httpMaxBytes, aloneMax: config.httpAloneMaxBytes }, downloadRate: swarm.rates.download })
    const blobs = new BlobRoute({ store: cache, puller, sidecars, logger: logger.child({ part: 'blobs' }), clock, totals, peerZones, meter: agentMetrics(metrics) })

    server.serve(buildAgentApp({ upstreams, originFor: (u) => origins.get(u)!, blobs, access, totals, peerZones, logger, cache, rates: swarm.rates, pulls: () => puller.inFlight(), metrics: () => scrape(metrics) }))
    // Stopped first on close: no request starts while the parts behind it go.
    closing.push('stop serving', () => server.close())
    logger.info({ port: server.port, peerPort, sidecars: config.sidecars, upstreams: config.upstreams, tokenAuth: auth !== undefined, nodeCredentials: [...own.keys()] }, 'agent listening')

    return {
      port: server.port,
      peerPort,
      url: localUrl(config.listen.host, server.port),
      peers: swarm,
      metrics,
      cache,
      live,
      restored: restoreStored(cache, logger),
      verifier: auth?.verifier,
      close: () => closing.close(),
    }
  })
}
