import { pino, type DestinationStream, type Logger } from 'pino'

export type { Logger }

// Credentials that might ride along in a logged object. Code never logs a
// secret on purpose; this catches the ones that slip in with headers or errors.
const REDACT = [
  'authorization',
  '*.authorization',
  'headers.authorization',
  '*.headers.authorization',
  'req.headers.authorization',
  'password',
  '*.password',
  'token',
  '*.token',
  'cred',
  '*.cred',
]

/** The process's logger; `destination` (default stdout) lets a test read what was logged. */
export function createLogger(level: string, name: string, destination?: DestinationStream): Logger {
  const opts = { level, name, base: { pid: process.pid }, redact: { paths: REDACT, censor: '[redacted]' } }
  return destination ? pino(opts, destination) : pino(opts)
}

/** A logger that drops everything, for tests that do not read logs. */
export function silentLogger(): Logger {
  return pino({ level: 'silent' })
}
