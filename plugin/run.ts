import type { JoseTokenVerifier } from '../lib/auth/jose-verifier.js'
import { followKeyFiles } from '../lib/auth/live-keys.js'
import { authSettingsOf, tokenAuth } from '../lib/auth/setup.js'
import { RegistryTokenClient, type Credentials } from '../lib/registry/token-client.js'
import type { BlobCache } from '../lib/cache/blob-cache.js'
import type { Clock } from '../lib/core/clock.js'
import { followRate, openCache, restoreStored } from '../lib/cache/open.js'
import { listen } from '../lib/http/middleware.js'
import { LiveConfig } from '../config/live-config.js'
import type { Logger } from '../lib/core/logger.js'
import { RegistryClient } from '../lib/registry/client.js'
import { Swarm } from '../lib/swarm/swarm.js'
import { buildTorrent } from '../lib/swarm/torrent.js'
import type { AgentConfig } from '../config/index.js'
import { SidecarClient } from '../lib/protocol/client.js'
import { PullAccess } from './access.js'
import { BlobRoute } from './blob-route.js'
import { emptySources, Puller } from './puller.js'
import { buildAgentApp } from './server.js'
import { Upstreams } from './upstreams.js'

export interface RunningAgent {
  readonly port: number
  readonly peerPort: number
  readonly url: string
  readonly cache: BlobCache
  readonly live: LiveConfig<AgentConfig>
  /** Resolves when blobs cached by an earlier run are verified and seeding again. */
  readonly restored: Promise<number>
  /** With token auth: the verifier (its key set can be reloaded). */
  readonly verifier?: JoseTokenVerifier
  close(): Promise<void>
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

/** The agent's composition root. It owns `live` (a watched --config file), and closes it. */
export async function runAgent(opts: { config: AgentConfig; logger: Logger; clock: Clock; live?: LiveConfig<AgentConfig> }): Promise<RunningAgent> {
  const { config, logger, clock } = opts
  Swarm.checkInternals()
  const live = opts.live ?? LiveConfig.fixed(config, logger)
  const { cache, close: closeCache } = await openCache({ dataDir: config.dataDir, live, clock, logger: logger.child({ part: 'cache' }) })
  const swarm = new Swarm({ peerPort: config.peerPort, role: 'agent', advertiseHost: config.advertiseHost, logger: logger.child({ part: 'swarm' }) })
  const peerPort = await swarm.listening()
  const unfollow = [followRate(live, 'downloadBytesPerSec', swarm.rates.download), followRate(live, 'uploadBytesPerSec', swarm.rates.upload)]
  const sidecars = new SidecarClient(config.sidecars, Math.max(config.p2pStallTimeoutMs, 5_000))
  cache.attach({
    busy: (d) => swarm.uploading(d.hex),
    evicted: (d) => swarm.removeNamed(d.hex),
    verified: (info, hashes) => swarm.seed(buildTorrent(info.digest, hashes, sidecars.announceUrl).torrent, cache.blobDir),
  })
  const upstreams = new Upstreams(config.upstreams)
  const auth = tokenAuth(authSettingsOf(config), clock)
  const unfollowKeys = auth ? await followKeyFiles({ live, verifier: auth.verifier, logger: logger.child({ part: 'auth' }) }) : undefined
  const own = new Map(
    [...nodeCredentials(config)].map(([u, credentials]) => [u, new RegistryTokenClient({ registry: u, credentials, clock, logger: logger.child({ part: 'node-auth', upstream: u }) })]),
  )
  const access = new PullAccess({ guard: auth?.guard, ownAuth: (u) => own.get(u), logger: logger.child({ part: 'access' }) })
  const origins = new Map(config.upstreams.map((u) => [u, new RegistryClient(u, undefined, own.get(u))]))
  const totals = emptySources()
  const puller = new Puller({ store: cache, swarm, sidecars, logger: logger.child({ part: 'puller' }), clock, stallTimeoutMs: config.p2pStallTimeoutMs, inline: { max: config.httpMaxBytes, aloneMax: config.httpAloneMaxBytes }, downloadRate: swarm.rates.download })
  const blobs = new BlobRoute({ store: cache, puller, sidecars, logger: logger.child({ part: 'blobs' }), clock, totals })
  const app = buildAgentApp({ upstreams, originFor: (u) => origins.get(u)!, blobs, access, totals, logger, cache, rates: swarm.rates })
  const server = await listen(app, config.listen.host, config.listen.port)
  logger.info({ port: server.port, peerPort, sidecars: config.sidecars, upstreams: config.upstreams, tokenAuth: auth !== undefined, nodeCredentials: [...own.keys()] }, 'agent listening')

  const restored = restoreStored(cache, logger)

  const host = config.listen.host === '0.0.0.0' ? '127.0.0.1' : config.listen.host
  return {
    port: server.port,
    peerPort,
    url: `http://${host}:${server.port}`,
    cache,
    live,
    restored,
    verifier: auth?.verifier,
    async close() {
      for (const u of unfollow) u()
      await unfollowKeys?.()
      closeCache()
      await live.close()
      await server.close()
      await swarm.close()
    },
  }
}
