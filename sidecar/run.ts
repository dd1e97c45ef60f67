import os from 'node:os'
import type { JoseTokenVerifier } from '../lib/auth/jose-verifier.js'
import { authSettingsOf, tokenAuth } from '../lib/auth/setup.js'
import { SwarmCredentials, swarmSecret } from '../lib/auth/swarm-credential.js'
import { RegistryTokenClient } from '../lib/auth/token-client.js'
import { FileBlobStore } from '../lib/blob-store.js'
import type { Clock } from '../lib/clock.js'
import { listen } from '../lib/http.js'
import type { InfoHash } from '../lib/domain.js'
import type { Logger } from '../lib/logger.js'
import { RegistryClient } from '../lib/registry-client.js'
import { Swarm } from '../lib/swarm.js'
import { withAnnounce } from '../lib/torrent.js'
import type { SidecarConfig } from '../config/index.js'
import { BlobService } from './blob-service.js'
import { PreheatJobs } from './preheat-jobs.js'
import { preheatRoutes } from './preheat-routes.js'
import { PreseedQueue } from './preseed-queue.js'
import { buildSidecarApp } from './server.js'
import { SwarmAdmission } from './swarm-admission.js'
import { Tracker } from './tracker.js'

export interface RunningSidecar {
  readonly port: number
  readonly peerPort: number
  readonly url: string
  readonly blobs: BlobService
  readonly queue: PreseedQueue
  /** Resolves when blobs stored by an earlier run are seeding again. */
  readonly restored: Promise<number>
  /** With token auth: the verifier (its key set can be reloaded). */
  readonly verifier?: JoseTokenVerifier
  close(): Promise<void>
}

/** The sidecar's composition root: builds every part in order and wires them together. */
export async function runSidecar(opts: { config: SidecarConfig; logger: Logger; clock: Clock }): Promise<RunningSidecar> {
  const { config, logger, clock } = opts
  const store = new FileBlobStore(config.dataDir)
  await store.init()
  const auth = tokenAuth(authSettingsOf(config), clock)
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
  let announceUrl = ''
  const announceFor = (ih: InfoHash) => (admission ? admission.announceUrl(announceUrl, ih) : announceUrl)
  const blobs = new BlobService({
    store,
    origin,
    swarm,
    tracker,
    announceUrl: announceFor,
    logger: logger.child({ part: 'blobs' }),
    clock,
    retry: { attempts: 6, firstDelayMs: 500, maxDelayMs: 8000 },
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
  const extraRoutes = [preheatRoutes({ jobs, origin: config.origin, logger: logger.child({ part: 'preheat' }), preheatToken: config.preheatToken })]
  const app = buildSidecarApp({
    blobs,
    queue,
    tracker,
    logger,
    webhookToken: config.webhookToken,
    preheatToken: config.preheatToken,
    extraRoutes,
    guard: auth?.guard,
    handOut: admission ? (t) => withAnnounce(t.torrent, announceFor(t.infoHash)) : undefined,
  })
  const server = await listen(app, config.listen.host, config.listen.port)
  announceUrl = `http://${hostForUrl(config.advertiseHost)}:${server.port}/announce`
  logger.info({ port: server.port, peerPort, origin: config.origin, announceUrl, tokenAuth: auth !== undefined, originUser: config.originUsername }, 'sidecar listening')

  const restored = blobs.restore().then(
    (n) => {
      logger.info({ blobs: n }, 'stored blobs seeding again')
      return n
    },
    (err: unknown) => {
      logger.error({ err }, 'restoring stored blobs failed')
      return 0
    },
  )

  return {
    port: server.port,
    peerPort,
    url: `http://${hostForUrl(config.listen.host === '0.0.0.0' ? '127.0.0.1' : config.listen.host)}:${server.port}`,
    blobs,
    queue,
    restored,
    verifier: auth?.verifier,
    async close() {
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
