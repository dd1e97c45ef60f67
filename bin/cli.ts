import { agentLiveFields, ConfigError, helpText, liveFieldsOf, loadAgentConfig, loadSidecarConfig, sidecarLiveFields } from '../config/index.js'
import { systemClock } from '../lib/core/clock.js'
import { watchedConfig } from '../config/live-config.js'
import { createLogger } from '../lib/core/logger.js'
import { runSidecar } from '../sidecar/run.js'
import { runAgent } from '../plugin/run.js'
import { runDemo, demoHelp } from '../demo/run.js'
import { InternalsChanged } from '../lib/swarm/webtorrent/check-internals.js'

const USAGE = `Usage: layerseed <command> [options]

Commands:
  sidecar   run beside a registry: pre-seed pushed layers, serve torrents, run the tracker
  agent     run on every node as the container runtime's registry mirror
  demo      start a registry, a sidecar and two agents, push an image, pull it twice

Run 'layerseed <command> --help' for the options of a command.`

/** Runs a long-lived process until SIGINT/SIGTERM; returns the exit code. The process owns `live` once it started. */
async function serveUntilSignal(start: () => Promise<{ close(): Promise<void> }>, live: { close(): Promise<void> }): Promise<number> {
  let running: { close(): Promise<void> }
  try {
    running = await start()
  } catch (err) {
    await live.close()
    throw err
  }
  await new Promise<void>((resolve) => {
    process.once('SIGINT', resolve)
    process.once('SIGTERM', resolve)
  })
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
        return await serveUntilSignal(() => runSidecar({ config, logger, clock: systemClock, live }), live)
      }
      case 'agent': {
        const loaded = loadAgentConfig(rest)
        if (loaded.help || !loaded.config) return print(helpText('agent'))
        const config = loaded.config
        const logger = createLogger(config.logLevel, 'layerseed-agent')
        const live = await watchedConfig(loaded, () => loadAgentConfig(rest).config, liveFieldsOf(agentLiveFields, config), logger)
        return await serveUntilSignal(() => runAgent({ config, logger, clock: systemClock, live }), live)
      }
      case 'demo':
        if (rest.includes('--help') || rest.includes('-h')) return print(demoHelp)
        return await runDemo(rest)
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
    // A dependency that changed under the patches is an install problem, not a bug to trace: one line.
    const text = err instanceof InternalsChanged ? err.message : err instanceof Error ? (err.stack ?? err.message) : String(err)
    process.stderr.write(`layerseed ${command}: ${text}\n`)
    return 1
  }
}

function print(text: string): number {
  process.stdout.write(`${text}\n`)
  return 0
}
