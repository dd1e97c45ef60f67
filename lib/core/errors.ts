// Stable error codes, each with the HTTP status it maps to. The error middleware
// is the only place that turns these into responses; docs/endpoints.md lists them.

export const ErrorCodes = {
  WEBHOOK_UNAUTHORIZED: { status: 401, message: 'missing or wrong bearer token' },
  UNAUTHORIZED: { status: 401, message: 'authentication required' },
  DENIED: { status: 403, message: 'requested access to the resource is denied' },
  UPSTREAM_AUTH_FAILED: { status: 502, message: 'the registry refused this process\'s own credentials' },
  PREHEAT_UNAUTHORIZED: { status: 401, message: 'missing or wrong preheat provider bearer token' },
  PREHEAT_JOB_UNKNOWN: { status: 404, message: 'no such preheat job' },
  PREHEAT_URL_INVALID: { status: 400, message: 'the preheat url is not a manifest URL on the configured origin' },
  BAD_JSON: { status: 400, message: 'request body is not valid JSON' },
  BAD_SHAPE: { status: 400, message: 'request body has the wrong shape' },
  UNSUPPORTED_MEDIA_TYPE: { status: 415, message: 'unsupported Content-Type' },
  QUEUE_FULL: { status: 503, message: 'pre-seed queue is full; retry later' },
  BUSY: { status: 503, message: 'too many webhook requests at once; retry later' },
  BODY_TOO_LARGE: { status: 413, message: 'request body is over the limit' },
  UNSUPPORTED: { status: 405, message: 'the operation is unsupported' },
  DIGEST_INVALID: { status: 400, message: 'invalid digest' },
  NAME_INVALID: { status: 400, message: 'invalid repository name' },
  REPO_REQUIRED: { status: 400, message: 'the repo query parameter is required' },
  QUERY_INVALID: { status: 400, message: 'a query parameter is not valid' },
  BLOB_UNKNOWN: { status: 404, message: 'blob unknown' },
  BLOB_FETCH_FAILED: { status: 502, message: 'could not fetch the blob from the origin' },
  MANIFEST_INVALID: { status: 502, message: 'the origin\'s manifest is not one layerseed can read' },
  DIGEST_MISMATCH: { status: 502, message: 'content does not match its digest' },
  INSUFFICIENT_STORAGE: { status: 507, message: 'not enough free disk space to store the blob' },
  UPSTREAM_NOT_ALLOWED: { status: 403, message: 'upstream registry is not configured' },
  UPSTREAM_UNREACHABLE: { status: 502, message: 'upstream registry is unreachable' },
  UPSTREAM_ERROR: { status: 502, message: 'the upstream registry answered with an error; the agent relays its status' },
  RANGE_INVALID: { status: 416, message: 'the requested range is not satisfiable' },
  NOT_FOUND: { status: 404, message: 'no such route' },
  INTERNAL: { status: 500, message: 'internal error' },
} as const satisfies Record<string, { status: number; message: string }>

export type ErrorCode = keyof typeof ErrorCodes

export class AppError extends Error {
  /** The code's status; a relayed error (UpstreamStatusError) carries the upstream's own. */
  readonly status: number

  /** `headers` go on the response, e.g. the WWW-Authenticate challenge of a 401. */
  constructor(readonly code: ErrorCode, message?: string, cause?: unknown, readonly headers?: Readonly<Record<string, string>>) {
    super(message ?? ErrorCodes[code].message, { cause })
    this.name = 'AppError'
    this.status = ErrorCodes[code].status
  }
}

/** The registry API's error body, which docker, containerd and skopeo all print. */
export function errorBody(code: string, message: string): { errors: Array<{ code: string; message: string }> } {
  return { errors: [{ code, message }] }
}

/** A write failed because the disk (or a quota) is full: INSUFFICIENT_STORAGE; anything else is returned as it is. */
export function storageError(err: unknown, what: string): unknown {
  const code = (err as NodeJS.ErrnoException | undefined)?.code
  if (code === 'ENOSPC' || code === 'EDQUOT') return new AppError('INSUFFICIENT_STORAGE', `${what}: the disk is full (${code})`, err)
  return err
}

export function isInsufficientStorage(err: unknown): boolean {
  return err instanceof AppError && err.code === 'INSUFFICIENT_STORAGE'
}

/** Thrown when a process cannot start; its message is the one line the process exits with. */
export class StartError extends Error {
  override readonly name = 'StartError'
}
