// Domain values. Every constructor parses and throws DomainError on bad input,
// so a value you hold is valid. This module imports nothing internal.

export class DomainError extends Error {
  constructor(readonly code: 'DIGEST_INVALID' | 'NAME_INVALID' | 'INFOHASH_INVALID', message: string) {
    super(message)
    this.name = 'DomainError'
  }
}

const SHA256_RE = /^sha256:([a-f0-9]{64})$/

/** A content digest. Only sha256 is accepted: it is what every registry we serve uses. */
export class Digest {
  private constructor(readonly hex: string) {}

  static parse(s: unknown): Digest {
    if (typeof s !== 'string') throw new DomainError('DIGEST_INVALID', 'digest must be a string')
    const m = SHA256_RE.exec(s)
    if (!m) throw new DomainError('DIGEST_INVALID', `invalid digest ${JSON.stringify(s.slice(0, 100))}: want sha256:<64 lowercase hex>`)
    return new Digest(m[1])
  }

  static fromHex(hex: string): Digest {
    return Digest.parse(`sha256:${hex}`)
  }

  static isValid(s: unknown): boolean {
    return typeof s === 'string' && SHA256_RE.test(s)
  }

  get algorithm(): 'sha256' {
    return 'sha256'
  }

  toString(): string {
    return `sha256:${this.hex}`
  }

  equals(o: Digest): boolean {
    return o.hex === this.hex
  }
}

// The distribution spec's repository name grammar, with its 255-character limit.
const NAME_COMPONENT = '[a-z0-9]+(?:(?:\\.|_|__|-+)[a-z0-9]+)*'
const NAME_RE = new RegExp(`^${NAME_COMPONENT}(?:/${NAME_COMPONENT})*$`)

/** A repository name such as `library/alpine`. */
export class RepoName {
  private constructor(readonly value: string) {}

  static parse(s: unknown): RepoName {
    if (typeof s !== 'string' || s.length === 0 || s.length > 255 || !NAME_RE.test(s)) {
      throw new DomainError('NAME_INVALID', `invalid repository name ${JSON.stringify(String(s).slice(0, 100))}`)
    }
    return new RepoName(s)
  }

  toString(): string {
    return this.value
  }
}

const INFOHASH_RE = /^[a-f0-9]{40}$/

/** A BitTorrent v1 info-hash, as 40 lowercase hex characters. */
export class InfoHash {
  private constructor(readonly hex: string) {}

  static parse(s: unknown): InfoHash {
    if (typeof s !== 'string' || !INFOHASH_RE.test(s)) {
      throw new DomainError('INFOHASH_INVALID', `invalid info-hash ${JSON.stringify(String(s).slice(0, 60))}`)
    }
    return new InfoHash(s)
  }

  toString(): string {
    return this.hex
  }
}

export const MediaTypes = {
  dockerManifest: 'application/vnd.docker.distribution.manifest.v2+json',
  dockerManifestList: 'application/vnd.docker.distribution.manifest.list.v2+json',
  ociManifest: 'application/vnd.oci.image.manifest.v1+json',
  ociIndex: 'application/vnd.oci.image.index.v1+json',
} as const

export type ManifestKind = 'manifest' | 'index'

/** What kind of manifest a media type names, or undefined when it names none we act on. */
export function manifestKind(mediaType: string | undefined): ManifestKind | undefined {
  switch (mediaType) {
    case MediaTypes.dockerManifest:
    case MediaTypes.ociManifest:
      return 'manifest'
    case MediaTypes.dockerManifestList:
    case MediaTypes.ociIndex:
      return 'index'
    default:
      return undefined
  }
}

/** A content descriptor: what a manifest says about one blob or child manifest. */
export interface Descriptor {
  readonly mediaType: string
  readonly digest: Digest
  readonly size: number
}

/** A blob we have been told about, and the repository it can be read from. */
export interface BlobRef {
  readonly repo: RepoName
  readonly digest: Digest
}

/** A manifest we must read from the origin to learn its blobs. */
export interface ManifestRef {
  readonly repo: RepoName
  readonly digest: Digest
}

/** One thing a push asks the sidecar to warm. */
export type PushTarget = { kind: 'blob'; ref: BlobRef } | { kind: 'manifest'; ref: ManifestRef }
