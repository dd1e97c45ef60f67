// `layerseed status`: what a running sidecar and agent hold, for a person or a script.
import { parseStatusArgs, StatusArgsError, type StatusArgs } from './args.js'
import { NotAnswering, snapshot } from './fetch.js'
import { drawPulls, summary } from './render.js'

export const statusHelp = `Usage: layerseed status [--sidecar URL] [--agent URL] [--watch] [--json] [--interval SECONDS]

Shows what a running sidecar and/or agent hold: cache use, blobs seeding and fetching (sidecar),
pulls in flight with their progress (agent).

Options:
  --sidecar URL         a sidecar, e.g. http://127.0.0.1:7070
  --agent URL           an agent, e.g. http://127.0.0.1:65001
  --watch               refresh until Ctrl-C
  --interval SECONDS    between refreshes with --watch, 0.2 to 60 (default: 1)
  --json                print the data as one JSON document (with --watch, one per line)
  --help                show this help

Exits 1 with one line when a process does not answer, 2 for a bad argument.`

const CLEAR = '\x1b[2J\x1b[H'

async function showOnce(args: StatusArgs, redraw: boolean): Promise<void> {
  const s = await snapshot(args, new Date())
  if (args.json) {
    process.stdout.write(`${JSON.stringify(s)}\n`)
    return
  }
  // On a terminal each refresh replaces the last; piped, snapshots follow each other.
  process.stdout.write(`${redraw ? CLEAR : ''}${summary(s)}`)
  drawPulls(s.agent?.pulls ?? [], process.stdout)
  if (args.watch && !redraw) process.stdout.write('\n')
}

/** Resolves after `ms`, or at once when Ctrl-C (or a SIGTERM) asks to stop; says which. */
function pause(ms: number, stop: AbortSignal): Promise<boolean> {
  return new Promise((resolve) => {
    if (stop.aborted) return resolve(false)
    const t = setTimeout(() => resolve(true), ms)
    stop.addEventListener('abort', () => {
      clearTimeout(t)
      resolve(false)
    }, { once: true })
  })
}

/** Returns the exit code: 1 when a process does not answer, 2 for a bad argument. */
export async function runStatus(argv: readonly string[]): Promise<number> {
  let args: StatusArgs
  try {
    args = parseStatusArgs(argv)
  } catch (err) {
    if (!(err instanceof StatusArgsError)) throw err
    process.stderr.write(`layerseed status: ${err.message}\nRun 'layerseed status --help' for the usage.\n`)
    return 2
  }
  const stop = new AbortController()
  const onSignal = () => stop.abort()
  process.once('SIGINT', onSignal)
  process.once('SIGTERM', onSignal)
  try {
    const redraw = args.watch && !args.json && process.stdout.isTTY === true
    do await showOnce(args, redraw)
    while (args.watch && (await pause(args.intervalMs, stop.signal)))
    return 0
  } catch (err) {
    if (!(err instanceof NotAnswering)) throw err
    process.stderr.write(`layerseed status: ${err.message}\n`)
    return 1
  } finally {
    process.removeListener('SIGINT', onSignal)
    process.removeListener('SIGTERM', onSignal)
  }
}
