/**
 * The Foundries API token: `--token-file`, `FIOCTL_TOKEN`, or fioctl's config file.
 */
import { readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import path from 'node:path';
import { AppError } from '../errors.js';

/**
 * The API token, from (in this order) `--token-file`, `FIOCTL_TOKEN`, or fioctl's config file
 * (`$FIOCTL_CONFIG` or `~/.config/fioctl.yaml`, top-level `token:` line).
 */
export function loadToken(o: { tokenFile?: string; env?: NodeJS.ProcessEnv; home?: string } = {}): string {
  const env = o.env ?? process.env;
  if (o.tokenFile !== undefined) {
    let text: string;
    try {
      text = readFileSync(o.tokenFile, 'utf8');
    } catch (e) {
      throw new AppError('FILE_NOT_FOUND', `cannot read the token file ${o.tokenFile}`, 'Check the path given with --token-file.', { cause: e });
    }
    const token = text.trim();
    if (token === '' || /[\r\n]/.test(token)) {
      throw new AppError('TARGET_NOT_CONFIGURED', `the token file ${o.tokenFile} does not hold a single-line token`, 'Put only the API token in the file.');
    }
    return token;
  }
  const fromEnv = env['FIOCTL_TOKEN']?.trim();
  if (fromEnv !== undefined && fromEnv !== '') return fromEnv;
  const config = env['FIOCTL_CONFIG'] ?? path.join(o.home ?? homedir(), '.config', 'fioctl.yaml');
  let yaml: string | undefined;
  try {
    yaml = readFileSync(config, 'utf8');
  } catch {
    yaml = undefined;
  }
  const token = yaml === undefined ? undefined : yamlToken(yaml);
  if (token !== undefined) return token;
  throw new AppError('TARGET_NOT_CONFIGURED', 'no Foundries API token found',
    'Give --token-file FILE, set FIOCTL_TOKEN, or add "token: …" to ~/.config/fioctl.yaml (as `fioctl` uses).');
}

/** A top-level `token:` scalar of a YAML file (plain, single- or double-quoted). */
function yamlToken(yaml: string): string | undefined {
  for (const line of yaml.split(/\r?\n/)) {
    const m = /^token\s*:\s*(.*)$/i.exec(line);
    if (m?.[1] === undefined) continue;
    let v = m[1].trim();
    const quoted = /^"((?:[^"\\]|\\.)*)"|^'((?:[^']|'')*)'/.exec(v);
    if (quoted !== null) v = quoted[1] !== undefined ? quoted[1].replace(/\\(.)/g, '$1') : (quoted[2] ?? '').replace(/''/g, "'");
    else v = v.replace(/\s+#.*$/, '').trim();
    if (v !== '' && v !== '~' && v !== 'null') return v;
  }
  return undefined;
}
