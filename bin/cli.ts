import { readFileSync } from 'node:fs'
import { agentLiveFields, ConfigError, helpText, liveFieldsOf, loadAgentConfig, loadSidecarConfig, sidecarLiveFields } from '../config/index.js'
import { systemClock } from '../lib/core/clock.js'
import { StartError } from '../lib/core/errors.js'
import { watchedConfig } from '../config/live-config.js'
import { createLogger } from '../lib/core/logger.js'
import { runSidecar } from '../sidecar/run.js'
import { runAgent } from '../plugin/run.js'
import { runDemo, demoHelp } from '../demo/run.js'
import { runConfigure, configureHelp } from '../configure/main.js'
import { runStatus, statusHelp } from '../status/main.js'

const USAGE = `Usage: layerseed <command> [options]

Commands:
  sidecar   run beside a registry: pre-seed pushed layers, serve torrents, run the tracker
  agent     run on every node as the container runtime's registry mirror
  configure write a node's containerd, podman/CRI-O or docker mirror config for the agent
  status    show what a running sidecar and agent hold: cache, blobs, pulls in flight
  demo      start a registry, a sidecar and two agents, push an image, pull it twice

Run 'layerseed <command> --help' for the options of a command, 'layerseed --version' for the version.`

/** The version in package.json, which sits two levels above this file both in the repository (dist/bin/) and installed. */
function version(): string {
  const pkg: unknown = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8'))
  return typeof pkg === 'object' && pkg !== null && 'version' in pkg && typeof pkg.version === 'string' ? pkg.version : 'unknown'
}

/**
 * Resolves when the process should stop: SIGINT, SIGTERM, SIGHUP (a closed
 * terminal), or the parent gone. A wrapper such as npx that is killed does not
 * pass the signal on; the orphan is re-parented, so a changed ppid ends it
 * instead of leaving it holding the ports.
 */
function stopRequested(): Promise<void> {
  return new Promise<void>((resolve) => {
    const parent = process.ppid
    const watch = setInterval(() => {
      if (process.ppid !== parent) done()
    }, 2000).unref()
    const signals = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const
    function done(): void {
      clearInterval(watch)
      for (const s of signals) process.removeListener(s, done)
      resolve()
    }
    for (const s of signals) process.once(s, done)
  })
}

/** Runs a long-lived process until asked to stop; returns the exit code. A process that fails to start has closed what it built. */
async function serveUntilSignal(start: () => Promise<{ close(): Promise<void> }>): Promise<number> {
  const running = await start()
  await stopRequested()
  await running.close()
  return 0
}

export async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv
  try {
    switch (command) {
      case 'sidecar': {
        const loaded = loadSidecarConfig(rest)
        if (loaded.help || !loaded.config) return print(helpText('sidecar'))
        const config = loaded.config
        const logger = createLogger(config.logLevel, 'layerseed-sidecar')
        const live = await watchedConfig(loaded, () => loadSidecarConfig(rest).config, liveFieldsOf(sidecarLiveFields, config), logger)
        return await serveUntilSignal(() => runSidecar({ config, logger, clock: systemClock, live }))
      }
      case 'agent': {
        const loaded = loadAgentConfig(rest)
        if (loaded.help || !loaded.config) return print(helpText('agent'))
        const config = loaded.config
        const logger = createLogger(config.logLevel, 'layerseed-agent')
        const live = await watchedConfig(loaded, () => loadAgentConfig(rest).config, liveFieldsOf(agentLiveFields, config), logger)
        return await serveUntilSignal(() => runAgent({ config, logger, clock: systemClock, live }))
      }
      case 'configure':
        if (rest.includes('--help') || rest.includes('-h')) return print(configureHelp)
        return await runConfigure(rest)
      case 'status':
        if (rest.includes('--help') || rest.includes('-h')) return print(statusHelp)
        return await runStatus(rest)
      case 'demo':
        if (rest.includes('--help') || rest.includes('-h')) return print(demoHelp)
        return await runDemo(rest)
      case '--version':
      case '-V':
      case 'version':
        return print(version())
      case undefined:
      case '--help':
      case '-h':
      case 'help':
        return print(USAGE)
      default:
        process.stderr.write(`layerseed: unknown command ${JSON.stringify(command)}\n\n${USAGE}\n`)
        return 2
    }
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`layerseed ${command}: invalid configuration\n${err.message}\n`)
      return 2
    }
    // A start that cannot go on (a taken port, a changed dependency) is one line; anything else is a bug to trace.
    const text = err instanceof StartError ? err.message : err instanceof Error ? (err.stack ?? err.message) : String(err)
    process.stderr.write(`layerseed ${command}: ${text}\n`)
    return 1
  }
}

function print(text: string): number {
  process.stdout.write(`${text}\n`)
  return 0
}
