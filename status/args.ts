// The arguments of `layerseed status`, checked before anything is asked.

export interface StatusArgs {
  readonly sidecar?: URL
  readonly agent?: URL
  readonly watch: boolean
  readonly json: boolean
  /** Between refreshes with --watch. */
  readonly intervalMs: number
}

/** A bad argument; the CLI exits 2 with it. */
export class StatusArgsError extends Error {
  constructor(message: string) {
    super(message)
    this.name = 'StatusArgsError'
  }
}

const MIN_INTERVAL_S = 0.2
const MAX_INTERVAL_S = 60

function baseUrl(key: string, raw: string | undefined): URL {
  if (raw === undefined || raw.startsWith('--')) throw new StatusArgsError(`${key}: want a URL such as http://127.0.0.1:7070`)
  let u: URL
  try {
    u = new URL(raw)
  } catch {
    throw new StatusArgsError(`${key}: not a URL: ${JSON.stringify(raw)}`)
  }
  if (u.protocol !== 'http:' && u.protocol !== 'https:') throw new StatusArgsError(`${key}: want an http or https URL, got ${JSON.stringify(raw)}`)
  return u
}

export function parseStatusArgs(argv: readonly string[]): StatusArgs {
  let sidecar: URL | undefined
  let agent: URL | undefined
  let watch = false
  let json = false
  let intervalMs = 1000
  for (let i = 0; i < argv.length; i++) {
    const [flag, inline] = argv[i].split(/=(.*)/s, 2)
    const value = () => inline ?? argv[++i]
    switch (flag) {
      case '--sidecar':
        sidecar = baseUrl(flag, value())
        break
      case '--agent':
        agent = baseUrl(flag, value())
        break
      case '--watch':
        watch = true
        break
      case '--json':
        json = true
        break
      case '--interval': {
        const s = Number(value())
        if (!Number.isFinite(s) || s < MIN_INTERVAL_S || s > MAX_INTERVAL_S) throw new StatusArgsError(`--interval: want seconds from ${MIN_INTERVAL_S} to ${MAX_INTERVAL_S}`)
        intervalMs = Math.round(s * 1000)
        break
      }
      default:
        throw new StatusArgsError(`unknown argument ${JSON.stringify(argv[i])}`)
    }
  }
  if (!sidecar && !agent) throw new StatusArgsError('want --sidecar URL, --agent URL or both')
  return { sidecar, agent, watch, json, intervalMs }
}
