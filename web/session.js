// Who is signed in: the access token and the user it belongs to, kept in localStorage so a
// reload keeps you signed in. A token past its expiry counts as no token at all.

const KEY = 'shutter.session';

function read() {
  try {
    return JSON.parse(localStorage.getItem(KEY) || 'null');
  } catch {
    return null;
  }
}

/** The live session, or null (an expired one is forgotten on the way). */
export function current() {
  const saved = read();
  if (saved && Date.parse(saved.expiresAt) > Date.now()) return saved;
  if (saved) localStorage.removeItem(KEY);
  return null;
}

export function token() {
  return current()?.token ?? '';
}

/** The signed-in user ({userId, username, displayName, bio}); ids stay strings (they are 64-bit). */
export function me() {
  return current()?.user ?? null;
}

/** Keep what POST /v1/auth/token answered. */
export function save(auth) {
  const { userId, username, displayName, bio } = auth.user;
  const session = { token: auth.accessToken, expiresAt: auth.expiresAt, user: { userId, username, displayName, bio } };
  localStorage.setItem(KEY, JSON.stringify(session));
}

/** After editing your profile: the header and your pages show the new name at once. */
export function updateUser(user) {
  const saved = current();
  if (!saved) return;
  saved.user = { ...saved.user, displayName: user.displayName, bio: user.bio };
  localStorage.setItem(KEY, JSON.stringify(saved));
}

export function clear() {
  localStorage.removeItem(KEY);
}
