import { readFileSync } from 'node:fs'
import path from 'node:path'
import { parse as parseYaml } from 'yaml'
import { agentAuthProblems, sidecarAuthProblems } from './credential-options.js'
import { checkCacheOptions } from './governance.js'
import { agentOptions, sidecarOptions, type AgentConfig, type SidecarConfig } from './schema.js'
import type { OptionSpec, Problem } from './spec.js'

/** Every problem found in the flags and the config file, each naming its key. */
export class ConfigError extends Error {
  constructor(readonly problems: readonly Problem[]) {
    super(problems.map((p) => `  ${p.key}: ${p.message}`).join('\n'))
    this.name = 'ConfigError'
  }
}

type Raw = Map<string, unknown[]>

/** What reading flags and the file needs of an option, whatever its config type. */
interface FlagSpec {
  readonly flag: string
  readonly repeatable?: boolean
}

function readArgv(argv: string[], specs: readonly FlagSpec[], problems: Problem[]): { raw: Raw; help: boolean; configFile?: string } {
  const raw: Raw = new Map()
  let help = false
  let configFile: string | undefined
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]
    if (arg === '--help' || arg === '-h') {
      help = true
      continue
    }
    const m = /^--([a-z0-9-]+)(?:=(.*))?$/s.exec(arg)
    if (!m) {
      problems.push({ key: arg, message: 'unexpected argument' })
      continue
    }
    const [, flag, inline] = m
    const value = inline ?? argv[++i]
    if (value === undefined) {
      problems.push({ key: `--${flag}`, message: 'needs a value' })
      continue
    }
    if (flag === 'config') {
      configFile = value
      continue
    }
    const spec = specs.find((s) => s.flag === flag)
    if (!spec) {
      problems.push({ key: `--${flag}`, message: 'unknown option' })
      continue
    }
    if (raw.has(flag) && !spec.repeatable) problems.push({ key: `--${flag}`, message: 'given more than once' })
    raw.set(flag, [...(raw.get(flag) ?? []), value])
  }
  return { raw, help, configFile }
}

function readFile(file: string, specs: readonly FlagSpec[], problems: Problem[]): Raw {
  const raw: Raw = new Map()
  let doc: unknown
  try {
    doc = parseYaml(readFileSync(file, 'utf8'))
  } catch (err) {
    problems.push({ key: '--config', message: `cannot read ${file}: ${(err as Error).message}` })
    return raw
  }
  if (doc === null || doc === undefined) return raw
  if (typeof doc !== 'object' || Array.isArray(doc)) {
    problems.push({ key: '--config', message: `${file} must hold a mapping of option names to values` })
    return raw
  }
  for (const [key, value] of Object.entries(doc)) {
    const spec = specs.find((s) => s.flag === key)
    if (!spec) problems.push({ key, message: `unknown key in ${file}` })
    else if (Array.isArray(value) && !spec.repeatable) problems.push({ key, message: 'takes one value, not a list' })
    else raw.set(key, Array.isArray(value) ? value : [value])
  }
  return raw
}

export function deepFreeze<T>(o: T): T {
  if (o && typeof o === 'object') {
    for (const v of Object.values(o)) deepFreeze(v)
    Object.freeze(o)
  }
  return o
}

export interface Loaded<T> {
  readonly help: boolean
  readonly config?: T
  /** The file given with --config, which a running process may watch. */
  readonly configFile?: string
}

/**
 * Reads flags over the config file, validates every option once (then the
 * rules between options, `check`), and returns a frozen config.
 */
function load<C extends object>(argv: string[], specs: readonly OptionSpec<C>[], check: (c: Partial<C>) => Problem[]): Loaded<C> {
  const problems: Problem[] = []
  const cli = readArgv(argv, specs, problems)
  if (cli.help) return { help: true }
  const file = cli.configFile ? readFile(cli.configFile, specs, problems) : new Map<string, unknown[]>()
  const out: Partial<Record<keyof C, unknown>> = {}
  // A secret and its --…-file form fill one field: giving both is an error.
  const givenFor = new Map<keyof C, string>()
  for (const spec of specs) {
    const fromCli = cli.raw.get(spec.flag)
    const values = fromCli ?? file.get(spec.flag) ?? (spec.default !== undefined ? [spec.default] : undefined)
    const key = fromCli ? `--${spec.flag}` : file.has(spec.flag) ? spec.flag : `--${spec.flag}`
    if (!values || values.length === 0) {
      if (spec.required) problems.push({ key: `--${spec.flag}`, message: 'is required' })
      continue
    }
    const given = fromCli || file.has(spec.flag) ? key : undefined
    const other = givenFor.get(spec.field)
    if (given && other) {
      problems.push({ key, message: `give either ${other} or ${key}, not both` })
      continue
    }
    if (given) givenFor.set(spec.field, key)
    try {
      const parsed = values.map((v): unknown => spec.parse(v))
      out[spec.field] = spec.repeatable ? parsed : parsed[0]
    } catch (err) {
      problems.push({ key, message: (err as Error).message })
    }
  }
  const reported = new Set(problems.map((p) => p.key.replace(/^--/, '')))
  // Each value came from its spec's parse, whose type is the field's; what
  // the compiler cannot follow through the loop above is only that pairing.
  const config = out as Partial<C>
  problems.push(...check(config).filter((p) => !reported.has(p.key.replace(/^--/, ''))))
  if (problems.length > 0) throw new ConfigError(problems)
  // No problem left means every required option was given; the rest have defaults.
  return { help: false, config: deepFreeze(config as C), configFile: cli.configFile ? path.resolve(cli.configFile) : undefined }
}

export function loadSidecarConfig(argv: string[]): Loaded<SidecarConfig> {
  return load(argv, sidecarOptions, (c) => [...sidecarAuthProblems(c), ...checkCacheOptions(c)])
}

export function loadAgentConfig(argv: string[]): Loaded<AgentConfig> {
  return load(argv, agentOptions, (c) => [...agentAuthProblems(c), ...checkCacheOptions(c)])
}

export function helpText(command: 'sidecar' | 'agent'): string {
  const specs = command === 'sidecar' ? sidecarOptions : agentOptions
  const rows: Array<[string, string]> = [
    ['--config FILE', 'YAML file with the same keys; flags override it. It is watched: rate limits, cache bounds and the other live options change without a restart (default: none)'],
    ...specs.map((s): [string, string] => {
      const def = s.required ? ' (required)' : s.default !== undefined ? ` (default: ${s.default})` : ''
      return [`--${s.flag} ${s.arg}`, `${s.help}${def}${s.repeatable ? ' [repeatable]' : ''}`]
    }),
    ['--help', 'show this help'],
  ]
  // The column is as wide as the longest flag and its argument, so none runs into its text.
  const width = Math.max(...rows.map(([left]) => left.length)) + 2
  return [
    `Usage: layerseed ${command} [options]`,
    '',
    'Options (each can also be a key of the --config YAML file, without the dashes):',
    ...rows.map(([left, text]) => `  ${left.padEnd(width)}${text}`),
  ].join('\n')
}
