/**
 * Defaults the page and the command line share, so both write the same thing when the user says
 * nothing.
 */

/** The changelog of a root key rotation when none is given (fioctl's default). */
export const DEFAULT_CHANGELOG = 'Rotate TUF root offline signing key';
