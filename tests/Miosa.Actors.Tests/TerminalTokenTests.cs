using System.Security.Cryptography;
using System.Text;
using Miosa.Actors.Common;
using Miosa.Actors.Previews;
using Miosa.Actors.Terminals;

namespace Miosa.Actors.Tests;

/// <summary>Terminal tokens, and the browser-token signer they share with preview tokens.</summary>
public class TerminalTokenTests
{
    private static readonly DateTimeOffset Now = new(2026, 11, 28, 12, 0, 0, TimeSpan.Zero);
    private readonly TerminalTokenKeys _keys = new("cluster-secret");

    [Fact]
    public void A_signed_token_verifies_to_its_grant_and_opens_only_its_sandbox_until_it_expires()
    {
        var token = _keys.Sign(new TerminalGrant("org_a", "sbx_a", 120, 40, Now.AddMinutes(5)));
        Assert.StartsWith("mt_", token);
        var grant = _keys.Verify(token)!;
        Assert.Equal(new TerminalGrant("org_a", "sbx_a", 120, 40, Now.AddMinutes(5)), grant);
        Assert.True(grant.Opens("sbx_a", Now));
        Assert.False(grant.Opens("sbx_b", Now));
        Assert.False(grant.Opens("sbx_a", Now.AddMinutes(5)));
    }

    [Fact]
    public void Forged_tampered_and_other_kinds_of_tokens_do_not_verify()
    {
        var token = _keys.Sign(new TerminalGrant("org_a", "sbx_a", 80, 24, Now.AddMinutes(5)));
        var other = _keys.Sign(new TerminalGrant("org_a", "sbx_b", 80, 24, Now.AddMinutes(5)));
        Assert.Null(_keys.Verify(other[..other.IndexOf('.')] + token[token.IndexOf('.')..]));
        Assert.Null(_keys.Verify(token[..^2] + (token[^2] == 'A' ? "BB" : "AA")));
        Assert.Null(_keys.Verify(new TerminalTokenKeys("another-secret").Sign(new TerminalGrant("org_a", "sbx_a", 80, 24, Now.AddMinutes(5)))));
        foreach (var bad in new[] { "", "mt_", "mt_.", "mt_%%%.%%%", "mp_x.y", token + "x", "mt_" + new string('a', 2000) })
            Assert.Null(_keys.Verify(bad));

        // Same secret, other kind: a preview token never opens a terminal, nor the other way round,
        // even with its prefix swapped (the keys differ per purpose).
        var preview = new PreviewTokenKeys("cluster-secret");
        var mp = preview.Sign(new PreviewGrant("org_a", "sbx_a", null, Now.AddMinutes(5)));
        Assert.Null(_keys.Verify(mp));
        Assert.Null(_keys.Verify("mt_" + mp[3..]));
        Assert.Null(preview.Verify(token));
        Assert.Null(preview.Verify("mp_" + token[3..]));
    }

    [Fact]
    public void Keys_rotate_with_the_accepted_key_ids()
    {
        var old = _keys.Sign(new TerminalGrant("org_a", "sbx_a", 80, 24, Now.AddMinutes(5)));
        var rotated = new TerminalTokenKeys("cluster-secret", currentKeyId: "k2", acceptedKeyIds: ["k1"]);
        Assert.NotNull(rotated.Verify(old));
        Assert.Null(_keys.Verify(rotated.Sign(new TerminalGrant("org_a", "sbx_a", 80, 24, Now.AddMinutes(5)))));
        Assert.Null(new TerminalTokenKeys("cluster-secret", currentKeyId: "k2").Verify(old));
    }

    [Fact]
    public void Preview_tokens_keep_their_wire_format_on_the_shared_signer()
    {
        // mp_ + base64url({"k","o","s","p","e"}) + "." + base64url(HMAC-SHA256 with HKDF(secret, "miosa preview token k1")).
        var key = HKDF.DeriveKey(HashAlgorithmName.SHA256, Encoding.UTF8.GetBytes("cluster-secret"), 32, info: Encoding.UTF8.GetBytes("miosa preview token k1"));
        var body = Base64Url(Encoding.UTF8.GetBytes($$"""{"k":"k1","o":"org_a","s":"sbx_a","p":3000,"e":{{Now.ToUnixTimeSeconds()}}}"""));
        var expected = $"mp_{body}.{Base64Url(HMACSHA256.HashData(key, Encoding.ASCII.GetBytes(body)))}";

        var keys = new PreviewTokenKeys("cluster-secret");
        Assert.Equal(expected, keys.Sign(new PreviewGrant("org_a", "sbx_a", 3000, Now)));
        Assert.Equal(new PreviewGrant("org_a", "sbx_a", 3000, Now), keys.Verify(expected));
        Assert.Equal("mp_", new BrowserTokenSigner("cluster-secret", "mp_", "preview").Prefix);
    }

    private static string Base64Url(byte[] bytes) => Convert.ToBase64String(bytes).TrimEnd('=').Replace('+', '-').Replace('/', '_');
}
