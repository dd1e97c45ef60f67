import express, { type Express, type NextFunction, type Request, type Response } from 'express'
import { createProxyMiddleware } from 'http-proxy-middleware'
import type { IncomingMessage } from 'node:http'
import type { BlobCache } from '../lib/cache/blob-cache.js'
import { Digest, RepoName } from '../lib/core/domain.js'
import { AppError } from '../lib/core/errors.js'
import { errorMiddleware, notFound, wrap } from '../lib/http/middleware.js'
import type { Logger } from '../lib/core/logger.js'
import type { RateLimit } from '../lib/swarm/rate-limit.js'
import type { RegistryClient } from '../lib/registry/client.js'
import type { PullAccess } from './access.js'
import type { BlobRoute } from './blob-route.js'
import type { PeerZoneBytes, SourceBytes } from './puller.js'
import type { PullView } from './pull-progress.js'
import type { Resolved, Upstreams } from './upstreams.js'

export interface AgentAppDeps {
  readonly upstreams: Upstreams
  readonly originFor: (upstream: string) => RegistryClient
  readonly blobs: BlobRoute
  readonly access: PullAccess
  readonly totals: SourceBytes
  /** `totals.peers` by the peers' zone. */
  readonly peerZones: PeerZoneBytes
  readonly logger: Logger
  readonly cache: BlobCache
  /** The host's limits as they are now, reported with the stats. */
  readonly rates: { readonly download: RateLimit; readonly upload: RateLimit }
  /** Pulls in flight, for `GET /v1/pulls`. */
  readonly pulls: () => PullView[]
  /** The Prometheus text of `GET /metrics`. */
  readonly metrics: () => Promise<{ contentType: string; body: string }>
}

const BLOB_PATH = /^(.+)\/blobs\/(sha256:[^/]+)$/

/** Every route of the agent, the registry mirror a node's runtime talks to. */
export function buildAgentApp(deps: AgentAppDeps): Express {
  const app = express()
  app.disable('x-powered-by')
  const resolved = new WeakMap<IncomingMessage, Resolved>()
  // Requests that carry the node's own token, so a 401 for it renews the token.
  const ownToken = new WeakSet<IncomingMessage>()
  // The proxy reports its errors outside express; this takes them back to the error middleware.
  const nextOf = new WeakMap<IncomingMessage, NextFunction>()

  app.get('/healthz', (_req, res) => {
    res.json({ status: 'ok' })
  })
  app.get('/v1/stats', (_req, res) => {
    const rateLimits = { downloadBytesPerSec: deps.rates.download.bytesPerSec ?? null, uploadBytesPerSec: deps.rates.upload.bytesPerSec ?? null }
    res.json({ bytesBySource: deps.totals, peerBytesByZone: deps.peerZones, rateLimits })
  })
  app.get('/v1/cache', wrap(async (_req, res) => {
    res.json(await deps.cache.status())
  }))
  app.get('/v1/pulls', (_req, res) => {
    res.json({ pulls: deps.pulls() })
  })
  app.get('/metrics', wrap(async (_req, res) => {
    const m = await deps.metrics()
    res.type(m.contentType).send(m.body)
  }))

  // A pull-through mirror: pushes go to the registry itself (docs/endpoints.md says why).
  app.use('/v2', (req: Request, _res: Response, next: NextFunction) => {
    if (req.method === 'GET' || req.method === 'HEAD') return next()
    next(new AppError('UNSUPPORTED', `${req.method} is not served by the layerseed agent, a pull-through mirror: push to the registry itself (${deps.upstreams.default})`, undefined, { allow: 'GET, HEAD' }))
  })

  app.use('/v2', (req: Request, res: Response, next: NextFunction) => {
    try {
      const r = deps.upstreams.resolve(req.originalUrl)
      const blob = (req.method === 'GET' || req.method === 'HEAD') && r.repo !== undefined ? BLOB_PATH.exec(r.path.split('?')[0].slice(4)) : null
      if (blob) {
        const repo = RepoName.parse(blob[1])
        const digest = Digest.parse(blob[2])
        deps.access
          .forBlob(req.get('authorization'), r.upstream, repo)
          .then((authorization) => deps.blobs.handle(req, res, { repo, digest, origin: deps.originFor(r.upstream), authorization }))
          .catch(next)
        return
      }
      resolved.set(req, r)
      nextOf.set(req, next)
      deps.access
        .forProxy(req.get('authorization'), r.upstream, r.repo)
        .then((own) => {
          if (own !== undefined) {
            req.headers.authorization = own
            ownToken.add(req)
          }
          next()
        })
        .catch(next)
    } catch (err) {
      next(err)
    }
  })

  // Manifests, tags, referrers and /v2/ itself go to the registry untouched:
  // Authorization goes up (the node's own when the client sent none) and
  // WWW-Authenticate comes back as they are.
  app.use(
    '/v2',
    createProxyMiddleware<Request, Response>({
      target: deps.upstreams.default,
      router: (req) => resolved.get(req)!.upstream,
      pathRewrite: (_path, req) => resolved.get(req)!.path,
      changeOrigin: true,
      xfwd: false,
      proxyTimeout: 60_000,
      on: {
        proxyRes: (proxyRes, req) => {
          if (proxyRes.statusCode === 401 && ownToken.has(req)) {
            const r = resolved.get(req)!
            deps.access.refused(r.upstream, proxyRes.headers['www-authenticate'], r.repo)
          }
        },
        error: (err, req) => {
          const next = nextOf.get(req)
          const e = new AppError('UPSTREAM_UNREACHABLE', `${resolved.get(req)?.upstream ?? 'the upstream'}: ${err.message}`, err)
          if (next) next(e)
          else req.destroy(e)
        },
      },
    }),
  )

  app.use(notFound)
  app.use(errorMiddleware(deps.logger))
  return app
}
