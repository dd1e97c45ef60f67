import os from 'node:os'
import type { Registry } from 'prom-client'
import type { JoseTokenVerifier } from '../lib/auth/jose-verifier.js'
import { followKeyFiles } from '../lib/auth/live-keys.js'
import { authSettingsOf, tokenAuth } from '../lib/auth/setup.js'
import { SwarmCredentials, swarmSecret } from '../lib/auth/swarm-credential.js'
import type { BlobCache, CacheHooks } from '../lib/cache/blob-cache.js'
import { openCache, restoreStored } from '../lib/cache/open.js'
import { CloseStack } from '../lib/core/close-stack.js'
import type { Clock } from '../lib/core/clock.js'
import type { InfoHash } from '../lib/core/domain.js'
import type { Logger } from '../lib/core/logger.js'
import { bindHttp, localUrl, urlHost } from '../lib/http/listen.js'
import { prepareDataDir } from '../lib/store/data-dir.js'
import { RegistryClient } from '../lib/registry/client.js'
import { RegistryTokenClient } from '../lib/registry/token-client.js'
import { followRate, RateLimit } from '../lib/swarm/rate-limit.js'
import { Swarm } from '../lib/swarm/swarm.js'
import { withAnnounce } from '../lib/swarm/torrent.js'
import { sidecarWarnings, type SidecarConfig } from '../config/index.js'
import { LiveConfig } from '../config/live-config.js'
import { BlobService } from './blob-service.js'
import { InlinePolicy } from './inline.js'
import { PreheatJobs } from './preheat-jobs.js'
import { FileIntakeJournal } from './file-intake-journal.js'
import { PreseedQueue } from './preseed-queue.js'
import { Seeding } from './seeding.js'
import { buildSidecarApp } from './server.js'
import { SwarmAdmission } from './swarm-admission.js'
import { Tracker } from '../lib/swarm/tracker.js'
import { cacheMetrics } from '../lib/metrics/cache.js'
import { processRegistry, scrape } from '../lib/metrics/registry.js'
import { swarmMetrics } from '../lib/metrics/swarm.js'
import { tokenMetrics } from '../lib/metrics/tokens.js'
import { sidecarMetrics } from './metrics.js'
import { Group } from './group/group.js'
import { IntakeReclaim, RedisIntakeJournal } from './group/redis-intake.js'
import { JobTakeover } from './group/job-takeover.js'
import { MemberClient } from './member-client.js'
import { alone } from './placement.js'

export interface RunningSidecar {
  readonly port: number
  readonly peerPort: number
  readonly url: string
  readonly blobs: BlobService
  /** The swarm's peer counters, for metrics. */
  readonly peers: Pick<Swarm, 'bannedPeers' | 'connectedPeers'>
  /** This sidecar's metrics, as `GET /metrics` serves them. */
  readonly metrics: Registry
  readonly queue: PreseedQueue
  readonly cache: BlobCache
  readonly live: LiveConfig<SidecarConfig>
  /** Resolves when blobs stored by an earlier run are verified and seeding again. */
  readonly restored: Promise<number>
  /** With token auth: the verifier (its key set can be reloaded). */
  readonly verifier?: JoseTokenVerifier
  close(): Promise<void>
}

export interface SidecarRunOptions {
  readonly config: SidecarConfig
  readonly logger: Logger
  readonly clock: Clock
  /** The running configuration, when a watched --config file may change it. The sidecar owns it and closes it. */
  readonly live?: LiveConfig<SidecarConfig>
}

/**
 * The sidecar's composition root: binds its ports, then builds every part in
 * order, each handed what it needs, and serves. A part that fails to build
 * closes the ones before it.
 */
export async function runSidecar(opts: SidecarRunOptions): Promise<RunningSidecar> {
  const { config, logger, clock } = opts
  Swarm.checkInternals()
  const live = opts.live ?? LiveConfig.fixed(config, logger)
  const closing = new CloseStack(logger)
  closing.push('config', () => live.close())
  for (const warning of sidecarWarnings(config)) logger.warn(warning)
  return closing.build(async () => {
    await prepareDataDir('--data-dir', config.dataDir)
    const server = await bindHttp('--listen', config.listen.host, config.listen.port)
    closing.push('http server', () => server.close())
    const announceUrl = `http://${urlHost(config.advertiseHost)}:${server.port}/announce`

    // One registry per process, never the global one: agents and sidecars share a process in tests.
    const metrics = processRegistry()
    const meter = sidecarMetrics(metrics)
    const cacheMeter = cacheMetrics(metrics)
    const auth = tokenAuth(authSettingsOf(config), clock, tokenMetrics(metrics))
    if (auth) closing.push('key files', await followKeyFiles({ live, verifier: auth.verifier, logger: logger.child({ part: 'auth' }) }))
    const originAuth = config.originUsername !== undefined && config.originPassword !== undefined
      ? new RegistryTokenClient({ registry: config.origin, credentials: { username: config.originUsername, password: config.originPassword }, clock, logger: logger.child({ part: 'origin-auth' }) })
      : undefined
    const origin = new RegistryClient(config.origin, undefined, originAuth)
    // In a group, Redis holds what the members share; without --redis, all of it stays in this process.
    const group = config.redis !== undefined ? await Group.open({ url: config.redis, dataDir: config.dataDir, replicas: config.replicas, clock, logger: logger.child({ part: 'group' }) }) : undefined
    if (group) closing.push('group', () => group.close())
    const secret = async () => (group && config.swarmSecret === undefined ? group.sharedSecret() : swarmSecret({ given: config.swarmSecret, dataDir: config.dataDir }))
    const admission = auth
      ? new SwarmAdmission(new SwarmCredentials(await secret(), clock, config.swarmCredentialTtlMs), clock)
      : undefined
    const announceFor = (ih: InfoHash) => (admission ? admission.announceUrl(announceUrl, ih) : announceUrl)

    const trackerLog = { clock, logger: logger.child({ part: 'tracker' }), onAnnounce: (ok: boolean) => meter.announce(ok), ...(group ? { peers: group.peers } : {}) }
    const tracker = new Tracker(admission ? { ...trackerLog, admit: (ih, params) => admission.refusal(ih, params) } : trackerLog)
    closing.push('tracker', () => tracker.close())
    const swarm = new Swarm({ peerPort: config.peerPort, role: 'seeder', advertiseHost: config.advertiseHost, place: { zone: config.zone, rack: config.rack }, logger: logger.child({ part: 'swarm' }) })
    closing.push('swarm', () => swarm.close())
    const peerPort = await swarm.listening()
    swarmMetrics(metrics, swarm)
    tracker.protect(swarm.peerId)
    tracker.onDelist((_ih, peerId) => swarm.ban(peerId))
    const selfUrl = config.advertiseUrl ?? `http://${urlHost(config.advertiseHost)}:${server.port}`
    if (group) await group.join(selfUrl, `${urlHost(config.advertiseHost)}:${peerPort}`)
    const placement = group ? group.placement() : alone
    const memberToken = () => live.current.webhookToken
    const members = group ? new MemberClient(memberToken) : undefined
    const originRate = new RateLimit()
    closing.push('rate limits', followRate(live, 'uploadBytesPerSec', swarm.rates.upload))
    closing.push('origin rate', followRate(live, 'originBytesPerSec', originRate))
    const seeding = new Seeding({ swarm, tracker, announceUrl: announceFor })

    // What the cache tells the process: peers taking a blob keep it, an evicted one stops seeding, a verified one seeds.
    const hooks: CacheHooks = {
      busy: (d) => swarm.uploading(d.hex),
      evicted: (d) => {
        cacheMeter.evicted()
        return seeding.unseed(d)
      },
      verified: async (info, hashes) => void (await seeding.seed(info, hashes)),
    }
    const { cache, close: closeCache } = await openCache({ dataDir: config.dataDir, live, clock, logger: logger.child({ part: 'cache' }), hooks })
    closing.push('cache', closeCache)
    cacheMeter.watch(cache)
    const blobs = new BlobService({
      store: cache,
      origin,
      seeding,
      logger: logger.child({ part: 'blobs' }),
      clock,
      retry: { attempts: 6, firstDelayMs: 500, maxDelayMs: 8000 },
      originRate,
      uploadRate: swarm.rates.upload,
      meter,
      placement,
      members,
    })
    const fileJournal = new FileIntakeJournal(config.dataDir, logger.child({ part: 'intake' }))
    await fileJournal.init()
    closing.push('intake journal', () => fileJournal.close())
    const journal = group ? new RedisIntakeJournal(fileJournal, group.redis, group.id, logger.child({ part: 'intake' })) : fileJournal
    const queue = new PreseedQueue({
      blobs,
      origin,
      journal,
      logger: logger.child({ part: 'queue' }),
      clock,
      concurrency: config.fetchConcurrency,
      maxPending: config.queueMax,
      manifestRetry: { attempts: 6, firstDelayMs: 100, maxDelayMs: 3200 },
      outage: { forMs: config.intakeRetryForMs, firstDelayMs: 1000, maxDelayMs: 30_000 },
      placement,
      members,
    })
    closing.push('queue', () => queue.close())
    if (group) {
      const reclaim = new IntakeReclaim({ redis: group.redis, members: () => group.members, placement, offer: (t) => queue.offer(t), logger: logger.child({ part: 'intake' }) })
      reclaim.start()
      closing.push('intake reclaim', () => reclaim.close())
    }
    const shared = group?.jobs()
    const jobs = new PreheatJobs({
      dataDir: config.dataDir,
      origin,
      blobs,
      clock,
      logger: logger.child({ part: 'preheat' }),
      hostname: os.hostname(),
      ip: config.advertiseHost,
      concurrency: config.fetchConcurrency,
      onState: (state) => meter.preheat(state),
      ...(shared ? { shared } : {}),
    })
    await jobs.init()
    if (group && shared) {
      const takeover = new JobTakeover({ redis: group.redis, jobs: shared, selfId: group.id, members: () => group.members, adopt: (rec) => jobs.adopt(rec), clock, logger: logger.child({ part: 'preheat' }) })
      takeover.start()
      closing.push('preheat takeover', () => takeover.close())
    }
    meter.watch({ queueDepth: () => queue.size, blobCounts: () => blobs.counts(), seederBytes: () => swarm.uploadedBytes })
    closing.push('preheat jobs', () => jobs.close())

    server.serve(buildSidecarApp({
      blobs,
      queue,
      tracker,
      inline: new InlinePolicy(tracker),
      cache,
      jobs,
      origin: config.origin,
      logger,
      webhookConcurrency: config.webhookConcurrency,
      guard: auth?.guard,
      meter,
      metrics: () => scrape(metrics),
      members: () => group?.answer() ?? { group: false, self: selfUrl, members: [{ id: selfUrl, url: selfUrl, seeder: `${urlHost(config.advertiseHost)}:${peerPort}` }] },
      memberToken: group ? memberToken : undefined,
      handOut: admission ? (t) => withAnnounce(t.torrent, announceFor(t.infoHash)) : undefined,
      // Tokens are read per request, so an edited config file changes them without a restart.
      get webhookToken() {
        return live.current.webhookToken
      },
      get preheatToken() {
        return live.current.preheatToken
      },
    }))
    // Stopped first on close: no request starts while the parts behind it go.
    closing.push('stop serving', () => server.close())
    void queue.resume().catch((err: unknown) => logger.error({ err }, 'could not resume accepted pre-seed targets'))
    logger.info({ port: server.port, peerPort, origin: config.origin, announceUrl, tokenAuth: auth !== undefined, originUser: config.originUsername, ...(group ? { member: group.id, url: selfUrl, redis: config.redis, replicas: config.replicas } : {}) }, 'sidecar listening')

    return {
      port: server.port,
      peerPort,
      url: localUrl(config.listen.host, server.port),
      peers: swarm,
      metrics,
      blobs,
      queue,
      cache,
      live,
      restored: restoreStored(cache, logger),
      verifier: auth?.verifier,
      close: () => closing.close(),
    }
  })
}
