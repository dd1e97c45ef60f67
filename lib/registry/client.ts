import { createHash } from 'node:crypto'
import { Readable } from 'node:stream'
import type { ReadableStream as WebReadableStream } from 'node:stream/web'
import type { RegistryAuthorizer } from './token-client.js'
import type { Digest, RepoName } from '../core/domain.js'
import { AppError, type ErrorCode } from '../core/errors.js'
import { MAX_MANIFEST_BYTES, parseManifest, type ParsedManifest } from './manifest.js'

const MANIFEST_ACCEPT = [
  'application/vnd.oci.image.index.v1+json',
  'application/vnd.oci.image.manifest.v1+json',
  'application/vnd.docker.distribution.manifest.list.v2+json',
  'application/vnd.docker.distribution.manifest.v2+json',
].join(', ')

export interface OpenedBlob {
  readonly stream: Readable
  /** Bytes the stream will carry (from the offset). */
  readonly length: number
  /** Size of the whole blob, when the registry said. */
  readonly totalSize: number | undefined
}

export interface RequestOptions {
  authorization?: string
  signal?: AbortSignal
}

/** The error code for a status relayed from the upstream, as the registry itself names it. */
function relayedCode(status: number): ErrorCode {
  if (status === 401) return 'UNAUTHORIZED'
  if (status === 403) return 'DENIED'
  if (status === 404) return 'BLOB_UNKNOWN'
  return 'UPSTREAM_ERROR'
}

/**
 * The registry answered a blob request with a status we do not handle. The
 * agent relays it as it came, with the registry's challenge on a 401, so a
 * client sees what the registry said.
 */
export class UpstreamStatusError extends AppError {
  override readonly status: number

  constructor(
    readonly upstreamStatus: number,
    readonly wwwAuthenticate: string | undefined,
    message: string,
  ) {
    super(relayedCode(upstreamStatus), message, undefined, wwwAuthenticate ? { 'www-authenticate': wwwAuthenticate } : undefined)
    this.status = upstreamStatus >= 400 && upstreamStatus <= 599 ? upstreamStatus : 502
  }
}

/**
 * A client for one registry's v2 API. It only ever talks to its base URL
 * (and to the storage a 307 from it points at); URLs from payloads never reach it.
 */
export class RegistryClient {
  constructor(
    readonly baseUrl: string,
    private readonly headersTimeoutMs = 30_000,
    /** This process's own credentials, used when a caller passes no Authorization. */
    private readonly auth?: RegistryAuthorizer,
  ) {}

  /**
   * A caller's Authorization is sent as it is. Without one, the process's own
   * credentials are used, and a 401 is followed once: its challenge says where
   * a fresh token comes from.
   */
  private async request(path: string, init: { method?: string; headers?: Record<string, string>; repo: RepoName } & RequestOptions): Promise<Response> {
    if (init.authorization || !this.auth) return this.send(path, init, init.authorization)
    const first = await this.send(path, init, await this.auth.authorization(init.repo))
    if (first.status !== 401) return first
    await first.body?.cancel()
    this.auth.challenged(first.headers.get('www-authenticate') ?? undefined, init.repo)
    return this.send(path, init, await this.auth.authorization(init.repo))
  }

  /** The timeout covers connecting and the response headers only: a large body may take as long as it takes. */
  private async send(path: string, init: { method?: string; headers?: Record<string, string> } & RequestOptions, authorization: string | undefined): Promise<Response> {
    const headers: Record<string, string> = { ...init.headers }
    if (authorization) headers.authorization = authorization
    const headersDeadline = new AbortController()
    const timer = setTimeout(() => headersDeadline.abort(new Error(`no response headers within ${this.headersTimeoutMs} ms`)), this.headersTimeoutMs)
    const signal = init.signal ? AbortSignal.any([init.signal, headersDeadline.signal]) : headersDeadline.signal
    try {
      // fetch follows 307s to storage and drops Authorization when the host changes.
      return await fetch(this.baseUrl + path, { method: init.method ?? 'GET', headers, signal, redirect: 'follow' })
    } catch (err) {
      throw new AppError('UPSTREAM_UNREACHABLE', `${this.baseUrl}: ${(err as Error).message}`, err)
    } finally {
      clearTimeout(timer)
    }
  }

  async getManifest(repo: RepoName, digest: Digest, opts: RequestOptions = {}): Promise<ParsedManifest> {
    return (await this.getManifestByReference(repo, digest.toString(), opts)).manifest
  }

  /**
   * A manifest by tag or digest. By digest the bytes must hash to it; by tag
   * the digest is computed from the bytes, so a lying header cannot redirect us.
   */
  async getManifestByReference(repo: RepoName, reference: string, opts: RequestOptions = {}): Promise<{ digest: string; manifest: ParsedManifest }> {
    const res = await this.request(`/v2/${repo}/manifests/${reference}`, { ...opts, repo, headers: { accept: MANIFEST_ACCEPT } })
    if (!res.ok) {
      await res.body?.cancel()
      // As for blobs: a refusal or a 404 stays what it is, and only a 5xx or 429 is worth waiting out.
      throw new UpstreamStatusError(res.status, res.headers.get('www-authenticate') ?? undefined, `manifest ${repo}${reference.includes(':') ? '@' : ':'}${reference}: HTTP ${res.status}`)
    }
    const body = Buffer.from(await res.arrayBuffer())
    if (body.length > MAX_MANIFEST_BYTES) throw new AppError('MANIFEST_INVALID', `manifest ${reference} is larger than 4 MiB`)
    const digest = `sha256:${createHash('sha256').update(body).digest('hex')}`
    if (reference.includes(':') && digest !== reference) {
      throw new AppError('DIGEST_MISMATCH', `manifest ${repo}@${reference} does not match its digest`)
    }
    try {
      return { digest, manifest: parseManifest(body, res.headers.get('content-type') ?? undefined) }
    } catch (err) {
      throw new AppError('MANIFEST_INVALID', `manifest ${repo}@${reference}: ${(err as Error).message}`)
    }
  }

  async openBlob(repo: RepoName, digest: Digest, opts: RequestOptions & { offset?: number } = {}): Promise<OpenedBlob> {
    const offset = opts.offset ?? 0
    const headers: Record<string, string> = offset > 0 ? { range: `bytes=${offset}-` } : {}
    const res = await this.request(`/v2/${repo}/blobs/${digest}`, { ...opts, repo, headers })
    const wanted = offset > 0 ? 206 : 200
    if (res.status !== wanted || !res.body) {
      await res.body?.cancel()
      const msg = `blob ${repo}@${digest}${offset ? ` from ${offset}` : ''}: HTTP ${res.status}`
      throw new UpstreamStatusError(res.status, res.headers.get('www-authenticate') ?? undefined, msg)
    }
    const length = Number(res.headers.get('content-length'))
    if (!Number.isSafeInteger(length) || length < 0) {
      await res.body.cancel()
      throw new AppError('BLOB_FETCH_FAILED', `blob ${repo}@${digest}: no Content-Length`)
    }
    const range = /\/(\d+)$/.exec(res.headers.get('content-range') ?? '')
    const totalSize = offset > 0 ? (range ? Number(range[1]) : undefined) : length
    const stream = Readable.fromWeb(res.body as unknown as WebReadableStream<Uint8Array>)
    return { stream, length, totalSize }
  }

  /** HEAD a blob: its size, or undefined when the registry does not have it. */
  async headBlob(repo: RepoName, digest: Digest, opts: RequestOptions = {}): Promise<number | undefined> {
    const res = await this.request(`/v2/${repo}/blobs/${digest}`, { ...opts, repo, method: 'HEAD' })
    if (res.status === 404) return undefined
    if (!res.ok) throw new AppError('BLOB_FETCH_FAILED', `HEAD blob ${repo}@${digest}: HTTP ${res.status}`)
    return Number(res.headers.get('content-length'))
  }
}
