/** What an operator reads for a failed bind. */
export function bindProblem(err: NodeJS.ErrnoException): string {
  if (err.code === 'EADDRINUSE') return 'address already in use'
  if (err.code === 'EACCES') return 'permission denied'
  if (err.code === 'EADDRNOTAVAIL') return 'address not available on this host'
  return err.message
}
