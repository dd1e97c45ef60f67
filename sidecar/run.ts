import os from 'node:os'
import type { JoseTokenVerifier } from '../lib/auth/jose-verifier.js'
import { followKeyFiles } from '../lib/auth/live-keys.js'
import { authSettingsOf, tokenAuth } from '../lib/auth/setup.js'
import { SwarmCredentials, swarmSecret } from '../lib/auth/swarm-credential.js'
import { RegistryTokenClient } from '../lib/registry/token-client.js'
import type { BlobCache } from '../lib/cache/blob-cache.js'
import type { Clock } from '../lib/core/clock.js'
import { cacheRoutes, followRate, openCache, restoreStored } from '../lib/cache/open.js'
import { listen } from '../lib/http/middleware.js'
import type { InfoHash } from '../lib/core/domain.js'
import { LiveConfig } from '../config/live-config.js'
import type { Logger } from '../lib/core/logger.js'
import { RateLimit } from '../lib/swarm/rate-limit.js'
import { RegistryClient } from '../lib/registry/client.js'
import { Swarm } from '../lib/swarm/swarm.js'
import { withAnnounce } from '../lib/swarm/torrent.js'
import type { SidecarConfig } from '../config/index.js'
import { BlobService } from './blob-service.js'
import { PreheatJobs } from './preheat-jobs.js'
import { preheatRoutes } from './preheat-routes.js'
import { PreseedQueue } from './preseed-queue.js'
import { buildSidecarApp } from './server.js'
import { SwarmAdmission } from './swarm-admission.js'
import { Tracker } from './tracker.js'
import { InlinePolicy } from './inline.js'

export interface RunningSidecar {
  readonly port: number
  readonly peerPort: number
  readonly url: string
  readonly blobs: BlobService
  readonly queue: PreseedQueue
  readonly cache: BlobCache
  readonly live: LiveConfig<SidecarConfig>
  /** Resolves when blobs stored by an earlier run are verified and seeding again. */
  readonly restored: Promise<number>
  /** With token auth: the verifier (its key set can be reloaded). */
  readonly verifier?: JoseTokenVerifier
  close(): Promise<void>
}

/**
 * The sidecar's composition root: builds every part in order and wires them
 * together. It owns `live` (a watched --config file), and closes it.
 */
export async function runSidecar(opts: { config: SidecarConfig; logger: Logger; clock: Clock; live?: LiveConfig<SidecarConfig> }): Promise<RunningSidecar> {
  const { config, logger, clock } = opts
  Swarm.checkInternals()
  const live = opts.live ?? LiveConfig.fixed(config, logger)
  const { cache, close: closeCache } = await openCache({ dataDir: config.dataDir, live, clock, logger: logger.child({ part: 'cache' }) })
  const auth = tokenAuth(authSettingsOf(config), clock)
  const unfollowKeys = auth ? await followKeyFiles({ live, verifier: auth.verifier, logger: logger.child({ part: 'auth' }) }) : undefined
  const originAuth = config.originUsername !== undefined && config.originPassword !== undefined
    ? new RegistryTokenClient({ registry: config.origin, credentials: { username: config.originUsername, password: config.originPassword }, clock, logger: logger.child({ part: 'origin-auth' }) })
    : undefined
  const origin = new RegistryClient(config.origin, undefined, originAuth)
  const admission = auth
    ? new SwarmAdmission(new SwarmCredentials(await swarmSecret({ given: config.swarmSecret, dataDir: config.dataDir }), clock, config.swarmCredentialTtlMs), clock)
    : undefined
  const tracker = new Tracker(admission ? { admit: (ih, params) => admission.refusal(ih, params) } : {})
  const swarm = new Swarm({ peerPort: config.peerPort, role: 'seeder', advertiseHost: config.advertiseHost, logger: logger.child({ part: 'swarm' }) })
  const peerPort = await swarm.listening()
  const originRate = new RateLimit()
  const unfollow = [followRate(live, 'uploadBytesPerSec', swarm.rates.upload), followRate(live, 'originBytesPerSec', originRate)]
  let announceUrl = ''
  const announceFor = (ih: InfoHash) => (admission ? admission.announceUrl(announceUrl, ih) : announceUrl)
  const blobs = new BlobService({
    store: cache,
    origin,
    swarm,
    tracker,
    announceUrl: announceFor,
    logger: logger.child({ part: 'blobs' }),
    clock,
    retry: { attempts: 6, firstDelayMs: 500, maxDelayMs: 8000 },
    originRate,
    uploadRate: swarm.rates.upload,
  })
  cache.attach({
    busy: (d) => swarm.uploading(d.hex),
    evicted: (d) => blobs.forget(d),
    verified: (info, hashes) => blobs.adopt(info, hashes),
  })
  const queue = new PreseedQueue({
    blobs,
    origin,
    logger: logger.child({ part: 'queue' }),
    clock,
    concurrency: config.fetchConcurrency,
    maxPending: config.queueMax,
    manifestRetry: { attempts: 6, firstDelayMs: 100, maxDelayMs: 3200 },
  })
  const jobs = new PreheatJobs({
    dataDir: config.dataDir,
    origin,
    blobs,
    clock,
    logger: logger.child({ part: 'preheat' }),
    hostname: os.hostname(),
    ip: config.advertiseHost,
    concurrency: config.fetchConcurrency,
  })
  await jobs.init()
  // The preheat token is read per request, so an edited config file changes it without a restart.
  const preheat = preheatRoutes({
    jobs,
    origin: config.origin,
    logger: logger.child({ part: 'preheat' }),
    get preheatToken() {
      return live.current.preheatToken
    },
  })
  const app = buildSidecarApp({
    blobs,
    queue,
    tracker,
    inline: new InlinePolicy(tracker),
    logger,
    extraRoutes: [preheat, cacheRoutes(cache)],
    guard: auth?.guard,
    handOut: admission ? (t) => withAnnounce(t.torrent, announceFor(t.infoHash)) : undefined,
    // Tokens are read per request, so an edited config file changes them without a restart.
    get webhookToken() {
      return live.current.webhookToken
    },
    get preheatToken() {
      return live.current.preheatToken
    },
  })
  const server = await listen(app, config.listen.host, config.listen.port)
  announceUrl = `http://${hostForUrl(config.advertiseHost)}:${server.port}/announce`
  logger.info({ port: server.port, peerPort, origin: config.origin, announceUrl, tokenAuth: auth !== undefined, originUser: config.originUsername }, 'sidecar listening')

  const restored = restoreStored(cache, logger)

  return {
    port: server.port,
    peerPort,
    url: `http://${hostForUrl(config.listen.host === '0.0.0.0' ? '127.0.0.1' : config.listen.host)}:${server.port}`,
    blobs,
    queue,
    cache,
    live,
    restored,
    verifier: auth?.verifier,
    async close() {
      for (const u of unfollow) u()
      await unfollowKeys?.()
      closeCache()
      await live.close()
      queue.close()
      jobs.close()
      await server.close()
      await swarm.close()
      tracker.close()
    },
  }
}

export function hostForUrl(host: string): string {
  return host.includes(':') ? `[${host}]` : host
}
