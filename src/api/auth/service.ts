import { randomBytes } from 'node:crypto';
import bcrypt from 'bcryptjs';
import type { KeelNode } from '../../node/keel-node.js';
import type { AuthRequest } from '../../store/auth-state.js';
import type { Permission, PermissionType } from '../../store/auth-permissions.js';
import { PERMISSION_TYPES } from '../../store/auth-permissions.js';
import { AuthFailedError, AuthNotEnabledError, RoleNotFoundError, UserEmptyError, UserNotFoundError } from '../../store/errors.js';
import { BadRequestError } from '../errors.js';
import type { Caller } from './guard.js';
import { guardAdmin } from './guard.js';
import { authenticateLimitsOf } from './attempt-limits.js';

/**
 * etcd's Auth service over KeelNode, shared by the gRPC handlers and the
 * JSON gateway: each method takes the request as a plain object with
 * etcd's field names (bytes as Buffers from gRPC or base64 from JSON) and
 * answers `{ revision, body }`; the transport adds the header.
 *
 * Passwords are hashed here, on the member that receives the call, before
 * anything is proposed: the log, snapshots and other members only ever see
 * bcrypt hashes. Passwords are never logged and never part of an error.
 */
type Body = Record<string, unknown>;
export interface AuthAnswer {
  revision: number;
  body: Body;
}
type Method = (node: KeelNode, request: Body, caller: Caller, timeoutMs: number) => Promise<AuthAnswer>;

/** bcrypt reads at most 72 bytes of a password; etcd's Go bcrypt refuses longer ones (and so does keel, rather than cutting silently). */
const PASSWORD_BYTES_MAX = 72;

function object(raw: unknown): Body {
  if (raw === undefined || raw === null) return {};
  if (typeof raw !== 'object' || Array.isArray(raw) || raw instanceof Uint8Array) throw new BadRequestError('the request must be an object');
  return raw as Body;
}

function text(body: Body, field: string): string {
  const value = body[field];
  if (value === undefined || value === null) return '';
  if (typeof value !== 'string') throw new BadRequestError(`${field} must be a string`);
  return value;
}

function bytes(body: Body, field: string): Uint8Array {
  const value = body[field];
  if (value === undefined || value === null) return new Uint8Array(0);
  if (value instanceof Uint8Array) return new Uint8Array(value);
  if (typeof value === 'string' && /^[A-Za-z0-9+/_-]*={0,2}$/.test(value)) return new Uint8Array(Buffer.from(value, 'base64'));
  throw new BadRequestError(`${field} must be bytes (base64 in JSON)`);
}

function permissionType(value: unknown): PermissionType {
  if (value === undefined || value === null) return 'READ';
  if (typeof value === 'number' && PERMISSION_TYPES[value] !== undefined) return PERMISSION_TYPES[value]!;
  if (typeof value === 'string' && (PERMISSION_TYPES as readonly string[]).includes(value)) return value as PermissionType;
  throw new BadRequestError('permType must be READ, WRITE or READWRITE');
}

async function hashPassword(node: KeelNode, password: string): Promise<string> {
  if (Buffer.byteLength(password) > PASSWORD_BYTES_MAX) throw new BadRequestError(`a password may have at most ${PASSWORD_BYTES_MAX} bytes`);
  return bcrypt.hash(password, node.config.bcryptCost);
}

/** A hash given by the client (etcd 3.5's hashedPassword), or the password hashed here. */
async function passwordHashOf(node: KeelNode, request: Body): Promise<string> {
  const given = text(request, 'hashedPassword');
  return given !== '' ? given : hashPassword(node, text(request, 'password'));
}

async function change(node: KeelNode, request: AuthRequest, timeoutMs: number): Promise<AuthAnswer> {
  const response = await node.propose({ type: 'auth', request }, timeoutMs);
  if (response.type !== 'auth') throw new Error('auth command answered by another command');
  return { revision: response.response.header.revision, body: {} };
}

const current = (node: KeelNode): number => node.status().revision;

/**
 * Authenticate: first the brute-force limits (attempt-limits.ts; a refused
 * attempt answers "too many requests" without hashing anything), then the
 * password is checked on this member against its applied state after a
 * read barrier (so a user added a moment ago elsewhere is known); a simple
 * token then goes through the log so every member learns it, a JWT is
 * signed here.
 */
const authenticate: Method = async (node, request, caller, timeoutMs) => {
  const name = text(request, 'name');
  const password = text(request, 'password');
  let admission;
  try {
    admission = authenticateLimitsOf(node).admit(name, caller.identity.address);
  } catch (error) {
    node.metrics.authenticateAttempts.inc({ outcome: 'limited' });
    throw error;
  }
  try {
    await node.readBarrier(timeoutMs);
    if (!node.auth.enabled) throw new AuthNotEnabledError();
    const user = node.auth.user(name);
    // Compare even for an unknown user, so the answer takes as long either way (no user enumeration by timing).
    const hash = user && !user.noPassword ? user.passwordHash : await unknownUserHash(node);
    node.metrics.authPasswordChecks.inc();
    const matches = await bcrypt.compare(password, hash);
    if (!user || user.noPassword || !matches) {
      node.metrics.authenticateAttempts.inc({ outcome: 'failed' });
      throw new AuthFailedError();
    }
    const token = await node.authTokens.issue(name, node.auth.revision);
    if (node.authTokens.replicated) await change(node, { op: 'authenticate', name, token }, timeoutMs);
    node.metrics.authenticateAttempts.inc({ outcome: 'ok' });
    admission.refund();
    return { revision: current(node), body: { token } };
  } catch (error) {
    // Only a wrong name or password counts against the limits.
    if (!(error instanceof AuthFailedError)) admission.refund();
    throw error;
  }
};

/** Per member, a bcrypt hash at its --bcrypt-cost of random bytes nobody knows, compared against when the user does not exist (same cost, same time). */
const UNKNOWN_USER_HASHES = new WeakMap<KeelNode, Promise<string>>();
function unknownUserHash(node: KeelNode): Promise<string> {
  let hash = UNKNOWN_USER_HASHES.get(node);
  if (!hash) {
    hash = bcrypt.hash(randomBytes(16).toString('base64'), node.config.bcryptCost);
    UNKNOWN_USER_HASHES.set(node, hash);
  }
  return hash;
}

export const AUTH_METHODS: Record<string, Method> = {
  AuthEnable: async (node, _request, _caller, timeoutMs) => change(node, { op: 'enable' }, timeoutMs),
  AuthDisable: async (node, _request, caller, timeoutMs) => {
    await guardAdmin(node, caller);
    return change(node, { op: 'disable' }, timeoutMs);
  },
  AuthStatus: async (node) => ({ revision: current(node), body: { enabled: node.auth.enabled, authRevision: String(node.auth.revision) } }),
  Authenticate: authenticate,
  UserAdd: async (node, request, caller, timeoutMs) => {
    await guardAdmin(node, caller);
    const name = text(request, 'name');
    if (name === '') throw new UserEmptyError();
    const noPassword = object(request.options).no_password === true;
    const passwordHash = noPassword ? '' : await passwordHashOf(node, request);
    return change(node, { op: 'userAdd', name, passwordHash, noPassword }, timeoutMs);
  },
  UserGet: async (node, request, caller) => {
    const name = text(request, 'name');
    if (node.auth.enabled) node.auth.checkSelfOrAdmin(await caller.info(), name);
    const user = node.auth.user(name);
    if (!user) throw new UserNotFoundError();
    return { revision: current(node), body: { roles: [...user.roles] } };
  },
  UserList: async (node, _request, caller) => {
    await guardAdmin(node, caller);
    return { revision: current(node), body: { users: node.auth.users().map((user) => user.name) } };
  },
  UserDelete: async (node, request, caller, timeoutMs) => {
    await guardAdmin(node, caller);
    return change(node, { op: 'userDelete', name: text(request, 'name') }, timeoutMs);
  },
  UserChangePassword: async (node, request, caller, timeoutMs) => {
    const name = text(request, 'name');
    if (node.auth.enabled) node.auth.checkSelfOrAdmin(await caller.info(), name);
    if (!node.auth.user(name)) throw new UserNotFoundError();
    return change(node, { op: 'userChangePassword', name, passwordHash: await passwordHashOf(node, request) }, timeoutMs);
  },
  UserGrantRole: async (node, request, caller, timeoutMs) => {
    await guardAdmin(node, caller);
    return change(node, { op: 'userGrantRole', name: text(request, 'user'), role: text(request, 'role') }, timeoutMs);
  },
  UserRevokeRole: async (node, request, caller, timeoutMs) => {
    await guardAdmin(node, caller);
    return change(node, { op: 'userRevokeRole', name: text(request, 'name'), role: text(request, 'role') }, timeoutMs);
  },
  RoleAdd: async (node, request, caller, timeoutMs) => {
    await guardAdmin(node, caller);
    return change(node, { op: 'roleAdd', name: text(request, 'name') }, timeoutMs);
  },
  RoleGet: async (node, request, caller) => {
    const name = text(request, 'role');
    if (node.auth.enabled) node.auth.checkRoleOrAdmin(await caller.info(), name);
    const role = node.auth.role(name);
    if (!role) throw new RoleNotFoundError();
    return { revision: current(node), body: { perm: role.permissions.map(permissionMessage) } };
  },
  RoleList: async (node, _request, caller) => {
    await guardAdmin(node, caller);
    return { revision: current(node), body: { roles: node.auth.roles().map((role) => role.name) } };
  },
  RoleDelete: async (node, request, caller, timeoutMs) => {
    await guardAdmin(node, caller);
    return change(node, { op: 'roleDelete', name: text(request, 'role') }, timeoutMs);
  },
  RoleGrantPermission: async (node, request, caller, timeoutMs) => {
    await guardAdmin(node, caller);
    const perm = object(request.perm);
    const permission: Permission = { permType: permissionType(perm.permType), key: bytes(perm, 'key'), rangeEnd: bytes(perm, 'range_end') };
    return change(node, { op: 'roleGrantPermission', name: text(request, 'name'), permission }, timeoutMs);
  },
  RoleRevokePermission: async (node, request, caller, timeoutMs) => {
    await guardAdmin(node, caller);
    return change(node, { op: 'roleRevokePermission', name: text(request, 'role'), key: bytes(request, 'key'), rangeEnd: bytes(request, 'range_end') }, timeoutMs);
  },
};

/** authpb.Permission with Buffers for bytes (the gRPC codec sends them; the JSON gateway turns them into base64). */
function permissionMessage(permission: Permission): Body {
  return { permType: permission.permType, key: Buffer.from(permission.key), range_end: Buffer.from(permission.rangeEnd) };
}

/** The JSON gateway's paths for the Auth methods (etcd's grpc-gateway annotations). */
export const AUTH_PATHS: Record<string, string> = {
  '/v3/auth/enable': 'AuthEnable',
  '/v3/auth/disable': 'AuthDisable',
  '/v3/auth/status': 'AuthStatus',
  '/v3/auth/authenticate': 'Authenticate',
  '/v3/auth/user/add': 'UserAdd',
  '/v3/auth/user/get': 'UserGet',
  '/v3/auth/user/list': 'UserList',
  '/v3/auth/user/delete': 'UserDelete',
  '/v3/auth/user/changepw': 'UserChangePassword',
  '/v3/auth/user/grant': 'UserGrantRole',
  '/v3/auth/user/revoke': 'UserRevokeRole',
  '/v3/auth/role/add': 'RoleAdd',
  '/v3/auth/role/get': 'RoleGet',
  '/v3/auth/role/list': 'RoleList',
  '/v3/auth/role/delete': 'RoleDelete',
  '/v3/auth/role/grant': 'RoleGrantPermission',
  '/v3/auth/role/revoke': 'RoleRevokePermission',
};

export { object as authRequestObject };
