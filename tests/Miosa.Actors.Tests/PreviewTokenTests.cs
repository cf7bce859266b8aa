using Miosa.Actors.Previews;

namespace Miosa.Actors.Tests;

public class PreviewTokenTests
{
    private static readonly DateTimeOffset Now = new(2026, 11, 28, 12, 0, 0, TimeSpan.Zero);
    private readonly PreviewTokenKeys _keys = new("cluster-secret");

    [Fact]
    public void A_signed_token_verifies_to_its_grant_and_opens_only_what_it_names()
    {
        var token = _keys.Sign(new PreviewGrant("org_a", "sbx_a", 3000, Now.AddHours(1)));
        Assert.StartsWith("mp_", token);
        var grant = _keys.Verify(token)!;
        Assert.Equal(Now.AddHours(1), grant.ExpiresAt);
        Assert.True(grant.Opens("org_a", "sbx_a", 3000, Now));
        Assert.False(grant.Opens("org_a", "sbx_a", 4000, Now));
        Assert.False(grant.Opens("org_a", "sbx_b", 3000, Now));
        Assert.False(grant.Opens("org_b", "sbx_a", 3000, Now));
        Assert.False(grant.Opens("org_a", "sbx_a", 3000, Now.AddHours(1)));
        Assert.True(_keys.Verify(_keys.Sign(new PreviewGrant("org_a", "sbx_a", null, Now.AddHours(1))))!.Opens("org_a", "sbx_a", 4000, Now));
    }

    [Fact]
    public void Tampered_forged_and_malformed_tokens_do_not_verify()
    {
        var token = _keys.Sign(new PreviewGrant("org_a", "sbx_a", 3000, Now.AddHours(1)));
        var dot = token.IndexOf('.');
        // Claims swapped for another sandbox's, signature kept.
        var other = _keys.Sign(new PreviewGrant("org_a", "sbx_b", 3000, Now.AddHours(1)));
        Assert.Null(_keys.Verify(other[..other.IndexOf('.')] + token[dot..]));
        Assert.Null(_keys.Verify(token[..^2] + (token[^2] == 'A' ? "BB" : "AA")));
        Assert.Null(_keys.Verify(new PreviewTokenKeys("another-secret").Sign(new PreviewGrant("org_a", "sbx_a", 3000, Now.AddHours(1)))));
        foreach (var bad in new[] { "", "mp_", "mp_.", "mp_%%%.%%%", "msk_x", token + "x", "mp_" + new string('a', 2000) })
            Assert.Null(_keys.Verify(bad));
    }

    [Fact]
    public void Keys_rotate_new_tokens_use_the_current_key_and_older_ones_stay_valid_while_accepted()
    {
        var old = _keys.Sign(new PreviewGrant("org_a", "sbx_a", null, Now.AddHours(1)));
        var rotated = new PreviewTokenKeys("cluster-secret", currentKeyId: "k2", acceptedKeyIds: ["k1"]);
        Assert.NotNull(rotated.Verify(old));
        var fresh = rotated.Sign(new PreviewGrant("org_a", "sbx_a", null, Now.AddHours(1)));
        Assert.Null(_keys.Verify(fresh));
        Assert.Null(new PreviewTokenKeys("cluster-secret", currentKeyId: "k2").Verify(old));
    }
}
