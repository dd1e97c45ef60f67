import type { JoseTokenVerifier } from '../lib/auth/jose-verifier.js'
import { authSettingsOf, tokenAuth } from '../lib/auth/setup.js'
import { RegistryTokenClient, type Credentials } from '../lib/auth/token-client.js'
import { FileBlobStore, rehashBlob } from '../lib/blob-store.js'
import type { Clock } from '../lib/clock.js'
import { listen } from '../lib/http.js'
import type { Logger } from '../lib/logger.js'
import { RegistryClient } from '../lib/registry-client.js'
import { Swarm } from '../lib/swarm.js'
import { buildTorrent } from '../lib/torrent.js'
import type { AgentConfig } from '../config/index.js'
import { SidecarClient } from '../sidecar/client.js'
import { PullAccess } from './access.js'
import { BlobRoute } from './blob-route.js'
import { emptySources, Puller } from './puller.js'
import { buildAgentApp } from './server.js'
import { Upstreams } from './upstreams.js'

export interface RunningAgent {
  readonly port: number
  readonly peerPort: number
  readonly url: string
  /** Resolves when blobs cached by an earlier run are seeding again. */
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

/** The agent's composition root. */
export async function runAgent(opts: { config: AgentConfig; logger: Logger; clock: Clock }): Promise<RunningAgent> {
  const { config, logger, clock } = opts
  const store = new FileBlobStore(config.dataDir)
  await store.init()
  const swarm = new Swarm({ peerPort: config.peerPort, role: 'agent', advertiseHost: config.advertiseHost, logger: logger.child({ part: 'swarm' }) })
  const peerPort = await swarm.listening()
  const sidecars = new SidecarClient(config.sidecars, Math.max(config.p2pStallTimeoutMs, 5_000))
  const upstreams = new Upstreams(config.upstreams)
  const auth = tokenAuth(authSettingsOf(config), clock)
  const own = new Map(
    [...nodeCredentials(config)].map(([u, credentials]) => [u, new RegistryTokenClient({ registry: u, credentials, clock, logger: logger.child({ part: 'node-auth', upstream: u }) })]),
  )
  const access = new PullAccess({ guard: auth?.guard, ownAuth: (u) => own.get(u), logger: logger.child({ part: 'access' }) })
  const origins = new Map(config.upstreams.map((u) => [u, new RegistryClient(u, undefined, own.get(u))]))
  const totals = emptySources()
  const puller = new Puller({ store, swarm, sidecars, logger: logger.child({ part: 'puller' }), clock, stallTimeoutMs: config.p2pStallTimeoutMs, httpMaxBytes: config.httpMaxBytes })
  const blobs = new BlobRoute({ store, puller, sidecars, logger: logger.child({ part: 'blobs' }), clock, totals })
  const app = buildAgentApp({ upstreams, originFor: (u) => origins.get(u)!, blobs, access, totals, logger })
  const server = await listen(app, config.listen.host, config.listen.port)
  logger.info({ port: server.port, peerPort, sidecars: config.sidecars, upstreams: config.upstreams, tokenAuth: auth !== undefined, nodeCredentials: [...own.keys()] }, 'agent listening')

  const restored = (async () => {
    let n = 0
    for (const info of await store.list()) {
      const hashes = await rehashBlob(info)
      if (!hashes) {
        logger.warn({ digest: info.digest.toString() }, 'cached blob does not match its digest; not seeding it')
        continue
      }
      await swarm.seed(buildTorrent(info.digest, hashes, sidecars.announceUrl).torrent, store.blobDir)
      n++
    }
    logger.info({ blobs: n }, 'cached blobs seeding again')
    return n
  })().catch((err: unknown) => {
    logger.error({ err }, 'restoring cached blobs failed')
    return 0
  })

  const host = config.listen.host === '0.0.0.0' ? '127.0.0.1' : config.listen.host
  return {
    port: server.port,
    peerPort,
    url: `http://${host}:${server.port}`,
    restored,
    verifier: auth?.verifier,
    async close() {
      await server.close()
      await swarm.close()
    },
  }
}
