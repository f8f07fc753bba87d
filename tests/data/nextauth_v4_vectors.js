// Regenerates nextauth_v4_vectors.json with the real next-auth v4 (not run by CI):
//   npm install --no-save --legacy-peer-deps next-auth@4
//   node tests/data/nextauth_v4_vectors.js > tests/data/nextauth_v4_vectors.json
const path = require("path");
const { encode } = require("next-auth/jwt");
const nextAuthDir = path.join(path.dirname(require.resolve("next-auth/jwt")), "..");
const { SessionStore } = require(path.join(nextAuthDir, "core/lib/cookie.js"));

const secret = "appsync-test-nextauth-secret-0123456789";
const CENTURY = 100 * 365 * 24 * 3600;

(async () => {
  const user = { name: "Ada Lovelace", email: "ada@example.com", sub: "user-42", picture: null };
  const valid = await encode({ token: user, secret, maxAge: CENTURY });
  const expired = await encode({ token: user, secret, maxAge: -3600 });
  const otherSecret = await encode({ token: user, secret: "another-secret-entirely-xyz", maxAge: CENTURY });
  const big = await encode({ token: { ...user, blob: "x".repeat(6000) }, secret, maxAge: CENTURY });
  const store = new SessionStore(
    { name: "next-auth.session-token", options: { secure: false } },
    { cookies: {}, headers: {} },
    { debug() {} },
  );
  const chunks = store.chunk(big, {});
  console.log(JSON.stringify({
    generator: "next-auth 4.24.15 next-auth/jwt encode() and SessionStore.chunk(): tests/data/nextauth_v4_vectors.js",
    secret, user, valid, expired, other_secret: otherSecret,
    chunked: Object.fromEntries(chunks.map((c) => [c.name, c.value])),
  }, null, 2));
})();
