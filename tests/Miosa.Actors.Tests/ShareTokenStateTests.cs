using Miosa.Actors.Common;
using Miosa.Actors.ShareTokens;

namespace Miosa.Actors.Tests;

public class ShareTokenStateTests
{
    private static readonly DateTimeOffset T0 = new(2026, 11, 28, 12, 0, 0, TimeSpan.Zero);
    private const string Id = "tok_abcdefghijklmnop";

    private static ShareTokenState Run(ShareTokenState state, IShareTokenCommand command)
    {
        var decision = state.Process(command);
        Assert.Null(decision.Rejection);
        return decision.Events.Aggregate(state, (s, e) => s.Apply(e));
    }

    private static ShareTokenState Created(string? passwordHash = null) => Run(ShareTokenState.Empty(Id),
        new CreateShareToken(Id, "org_a", "sbx_a", 3000, "hash", passwordHash, T0.AddHours(1), Attribution.None, T0));

    [Fact]
    public void A_share_token_opens_its_port_until_it_expires_or_is_revoked_and_revocation_is_final()
    {
        var state = Created();
        Assert.True(state.ToRoute().Opens("sbx_a", 3000, T0));
        Assert.False(state.ToRoute().Opens("sbx_a", 3001, T0));
        Assert.False(state.ToRoute().Opens("sbx_a", 3000, T0.AddHours(1)));
        var revoked = Run(state, new RevokeShareToken(Id, "org_a", T0));
        Assert.True(revoked.ToRoute().Revoked);
        Assert.True(revoked.ToRoute().Version > state.ToRoute().Version);
        Assert.Equal("share_token_not_found", revoked.Process(new GetShareToken(Id, "org_a")).Rejection!.Code);
        Assert.Equal(404, state.Process(new RevokeShareToken(Id, "org_b", T0)).Rejection!.Status);
        Assert.Equal(404, state.Process(new GetShareToken(Id, "org_b")).Rejection!.Status);
    }

    [Fact]
    public void Secrets_name_their_token_and_only_their_hash_is_kept()
    {
        var secret = ShareTokenSecret.Issue(Id);
        Assert.StartsWith("ms_", secret);
        Assert.Equal(Id, ShareTokenSecret.TokenIdOf(secret));
        Assert.NotEqual(ShareTokenSecret.Hash(secret), ShareTokenSecret.Hash(ShareTokenSecret.Issue(Id)));
        Assert.Null(ShareTokenSecret.TokenIdOf("ms_short"));
        Assert.Null(ShareTokenSecret.TokenIdOf(secret.ToUpperInvariant()));
        Assert.Null(ShareTokenSecret.TokenIdOf("mp_" + secret[3..]));
    }

    [Fact]
    public void Passwords_are_stored_as_salted_slow_hashes()
    {
        var hash = SharePassword.Hash("open sesame");
        Assert.StartsWith("pbkdf2-sha256$", hash);
        Assert.DoesNotContain("open sesame", hash);
        Assert.NotEqual(hash, SharePassword.Hash("open sesame"));
        Assert.True(SharePassword.Verify("open sesame", hash));
        Assert.False(SharePassword.Verify("open sesame!", hash));
        Assert.False(SharePassword.Verify("x", "garbage"));
        Assert.True(Created(hash).ToView().PasswordProtected);
    }
}
