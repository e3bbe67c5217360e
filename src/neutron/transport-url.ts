import { InputError } from '../util/errors.js';

/** One broker of an oslo.messaging transport URL. */
export interface BrokerAddress {
  hostname: string;
  port: number;
  username: string;
  password: string;
}

export interface TransportUrl {
  /** Brokers in the order given; the client fails over from one to the next. */
  brokers: BrokerAddress[];
  /** RabbitMQ virtual host; `/` when the URL has none. */
  vhost: string;
  /** `amqps` when the URL asks for TLS (`?ssl=1` or `amqps://`). */
  tls: boolean;
}

const DEFAULT_PORT = 5672;
const DEFAULT_USER = 'guest';

/**
 * Parses an oslo.messaging `transport_url` for RabbitMQ:
 * `rabbit://user:pass@host:port,user:pass@host2:port/vhost?options`. User names and
 * passwords are percent-decoded; a broker without credentials uses guest/guest and one
 * without a port uses 5672, as oslo does. Only `rabbit` (and `amqp`, `amqps`) schemes are
 * accepted: `fake://` or a missing broker is an error for the operator.
 */
export function parseTransportUrl(text: string): TransportUrl {
  const fail = (why: string): never => {
    throw new InputError(`transport_url ${redact(text)}: ${why}`);
  };
  const match = /^([a-z][a-z0-9+.-]*):\/\/([^/?#]*)(\/[^?#]*)?(\?[^#]*)?$/i.exec(text.trim());
  if (!match) fail('not a URL like rabbit://user:pass@host:5672/');
  const [, rawScheme, authority, path, query] = match as RegExpExecArray;
  const scheme = (rawScheme as string).toLowerCase();
  if (!['rabbit', 'amqp', 'amqps'].includes(scheme)) {
    fail(`scheme "${scheme}" is not supported (only rabbit://)`);
  }
  if (authority === '') fail('no broker address');
  const brokers = (authority as string).split(',').map((part) => parseBroker(part, fail));
  const vhost = path === undefined || path === '/' ? '/' : decode(path.slice(1), 'vhost', fail);
  const params = new URLSearchParams(query ?? '');
  const ssl = params.get('ssl') ?? '';
  const tls = scheme === 'amqps' || ['1', 'true', 'yes', 'on'].includes(ssl.toLowerCase());
  return { brokers, vhost, tls };
}

function parseBroker(part: string, fail: (why: string) => never): BrokerAddress {
  const at = part.lastIndexOf('@');
  const credentials = at >= 0 ? part.slice(0, at) : undefined;
  const address = at >= 0 ? part.slice(at + 1) : part;
  let username = DEFAULT_USER;
  let password = DEFAULT_USER;
  if (credentials !== undefined) {
    const colon = credentials.indexOf(':');
    username = decode(colon >= 0 ? credentials.slice(0, colon) : credentials, 'user', fail);
    password = colon >= 0 ? decode(credentials.slice(colon + 1), 'password', fail) : '';
  }
  const hostPort = /^(\[[0-9a-fA-F:.]+\]|[^:[\]]+)(?::([0-9]{1,5}))?$/.exec(address);
  if (!hostPort) fail(`broker "${address}" is not HOST[:PORT]`);
  const [, host, portText] = hostPort as RegExpExecArray;
  const port = portText === undefined ? DEFAULT_PORT : Number(portText);
  if (port < 1 || port > 65535) fail(`broker "${address}": port out of range`);
  return { hostname: (host as string).replace(/^\[|\]$/g, ''), port, username, password };
}

function decode(text: string, what: string, fail: (why: string) => never): string {
  try {
    return decodeURIComponent(text);
  } catch {
    return fail(`${what} is not valid percent-encoding`);
  }
}

/** The URL with passwords replaced by `***`, for logs and errors. */
export function redact(text: string): string {
  return text.replace(/([/,][^:/@,]*:)[^@/,]*@/g, '$1***@');
}

/** `host:port` of a broker for logs (IPv6 in brackets). */
export function brokerLabel(broker: BrokerAddress): string {
  const host = broker.hostname.includes(':') ? `[${broker.hostname}]` : broker.hostname;
  return `${host}:${broker.port}`;
}
