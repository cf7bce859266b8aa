using Miosa.Actors.Common;
using Miosa.Actors.Organizations;

namespace Miosa.Actors.Tests;

public class OrganizationStateTests
{
    private static readonly DateTimeOffset T0 = new(2026, 11, 28, 12, 0, 0, TimeSpan.Zero);

    private static OrganizationState Apply(OrganizationState s, Decision d) => d.Events.Aggregate(s, (x, e) => x.Apply(e));

    [Fact]
    public void Keys_authenticate_by_hash_until_revoked()
    {
        const string id = "org_aaaaaaaaaaaaaaaa";
        var key = ApiKeySecret.Issue(id);
        Assert.Equal(id, ApiKeySecret.OrganizationOf(key));
        var org = Apply(OrganizationState.Empty(id), OrganizationState.Empty(id).Process(
            new CreateOrganization(id, "acme", "Acme", new ApiKeyGrant("key_1", "default", ApiKeySecret.Hash(key)), T0)));
        Assert.Equal("key_1", org.Authenticate(ApiKeySecret.Hash(key)));
        Assert.Null(org.Authenticate(ApiKeySecret.Hash(key + "x")));
        Assert.DoesNotContain(key, System.Text.Json.JsonSerializer.Serialize(org));

        var revoked = Apply(org, org.Process(new RevokeApiKey(id, "key_1", T0)));
        Assert.Null(revoked.Authenticate(ApiKeySecret.Hash(key)));
        Assert.Equal("api_key_not_found", revoked.Process(new RevokeApiKey(id, "key_1", T0)).Rejection!.Code);
    }

    [Theory]
    [InlineData(null)]
    [InlineData("")]
    [InlineData("msk_short")]
    [InlineData("sk_aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa")]
    [InlineData("msk_AAAAAAAAAAAAAAAAaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa")]
    public void Malformed_keys_name_no_organization(string? key) => Assert.Null(ApiKeySecret.OrganizationOf(key));

    [Fact]
    public void Commands_on_a_missing_organization_are_not_found() =>
        Assert.Equal(404, OrganizationState.Empty("org_x").Process(new CreateApiKey("org_x", new ApiKeyGrant("k", "n", "h"), T0)).Rejection!.Status);
}
