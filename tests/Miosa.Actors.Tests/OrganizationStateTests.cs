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
        Assert.Equal("key_1", org.Authenticate(ApiKeySecret.Hash(key))?.Id);
        Assert.Null(org.Authenticate(ApiKeySecret.Hash(key + "x")));
        Assert.DoesNotContain(key, System.Text.Json.JsonSerializer.Serialize(org));

        org = Apply(org, org.Process(new CreateApiKey(id, new ApiKeyGrant("key_2", "ci", "h2"), T0)));
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

    private const string Org = "org_bbbbbbbbbbbbbbbb";

    /// <summary>An organization with its first (full) key "key_1", issued at T0.</summary>
    private static (OrganizationState State, string Key) Created()
    {
        var key = ApiKeySecret.Issue(Org);
        var empty = OrganizationState.Empty(Org);
        return (Apply(empty, empty.Process(new CreateOrganization(Org, "acme", "Acme", ApiKeyGrant.For("key_1", "default", key, ApiKeyScopes.Default), T0))), key);
    }

    [Fact]
    public void A_read_key_authenticates_with_its_scopes_and_may_only_read()
    {
        var (org, _) = Created();
        var readKey = ApiKeySecret.Issue(Org);
        org = Apply(org, org.Process(new CreateApiKey(Org, ApiKeyGrant.For("key_r", "dashboard", readKey, [ApiKeyScopes.Read]), T0, "key_1")));
        var scopes = org.Authenticate(ApiKeySecret.Hash(readKey))!.EffectiveScopes;
        Assert.Equal([ApiKeyScopes.Read], scopes);
        Assert.True(ApiKeyScopes.Permit(scopes, "GET"));
        Assert.True(ApiKeyScopes.Permit(scopes, "HEAD"));
        Assert.False(ApiKeyScopes.Permit(scopes, "POST"));
        Assert.False(ApiKeyScopes.Permit(scopes, "DELETE"));
        Assert.False(ApiKeyScopes.Permit(scopes, "PUT"));
        Assert.True(ApiKeyScopes.Permit([ApiKeyScopes.Full], "DELETE"));
        Assert.True(ApiKeyScopes.Permit([ApiKeyScopes.Read, ApiKeyScopes.Full], "POST"));
        // Keys issued before scopes existed keep working as full keys.
        Assert.True(ApiKeyScopes.Permit(null, "POST"));
        Assert.Equal([ApiKeyScopes.Full], new ApiKeyRecord("key_old", "old", "h", T0).EffectiveScopes);
    }

    [Theory]
    [InlineData("admin")]
    [InlineData("")]
    [InlineData(null)]
    public void Unknown_or_no_scopes_are_rejected_naming_scopes(string? scope)
    {
        var (org, _) = Created();
        IReadOnlyList<string> scopes = scope is null ? [] : [scope];
        Assert.Equal("scopes", ApiKeyScopes.Validate(scopes)!.Field);
        var decision = org.Process(new CreateApiKey(Org, new ApiKeyGrant("key_x", "x", "h", "msk_", scopes), T0));
        Assert.Equal(400, decision.Rejection!.Status);
        Assert.Equal("scopes", decision.Rejection.Field);
    }

    [Fact]
    public void Last_use_is_recorded_at_most_once_a_minute_per_key()
    {
        var (org, _) = Created();
        var first = org.RecordUse("key_1", T0);
        Assert.Equal(new ApiKeyUsed(Org, "key_1", T0), Assert.Single(first.Events));
        org = Apply(org, first);
        Assert.Equal(T0, org.ToView().ApiKeys.Single().LastUsedAt);

        Assert.Empty(org.RecordUse("key_1", T0.AddSeconds(1)).Events);
        Assert.Empty(org.RecordUse("key_1", T0.AddSeconds(59.9)).Events);
        var later = org.RecordUse("key_1", T0.AddSeconds(60));
        Assert.Single(later.Events);
        org = Apply(org, later);
        Assert.Equal(T0.AddSeconds(60), org.ToView().ApiKeys.Single().LastUsedAt);
        // A key revoked meanwhile (or never known) records nothing.
        Assert.Empty(org.RecordUse("key_gone", T0).Events);
    }

    [Fact]
    public void The_last_live_key_cannot_be_revoked_but_any_other_can_even_by_itself()
    {
        var (org, _) = Created();
        var last = org.Process(new RevokeApiKey(Org, "key_1", T0, "key_1"));
        Assert.Equal("last_api_key", last.Rejection!.Code);
        Assert.Equal(409, last.Rejection.Status);

        org = Apply(org, org.Process(new CreateApiKey(Org, ApiKeyGrant.For("key_2", "ci", ApiKeySecret.Issue(Org), ApiKeyScopes.Default), T0, "key_1")));
        var self = org.Process(new RevokeApiKey(Org, "key_1", T0, "key_1"));
        Assert.Equal(new ApiKeyRevoked(Org, "key_1", T0, "key_1"), Assert.Single(self.Events));
        org = Apply(org, self);
        Assert.Equal("last_api_key", org.Process(new RevokeApiKey(Org, "key_2", T0)).Rejection!.Code);
    }

    [Fact]
    public void Key_and_organization_events_are_audited_with_the_acting_key()
    {
        var empty = OrganizationState.Empty(Org);
        var created = empty.Process(new CreateOrganization(Org, "acme", "Acme", ApiKeyGrant.For("key_1", "default", ApiKeySecret.Issue(Org), ApiKeyScopes.Default), T0));
        var audited = created.Events.Cast<IAuditedEvent>().ToList();
        Assert.Equal(["organization.created", "api_key.created"], audited.Select(e => e.Action));
        Assert.Equal([Org, "key_1"], audited.Select(e => e.ResourceId));
        Assert.All(audited, e => Assert.Null(e.ActorKeyId));

        var org = Apply(empty, created);
        var issued = (IAuditedEvent)org.Process(new CreateApiKey(Org, ApiKeyGrant.For("key_2", "ci", ApiKeySecret.Issue(Org), ApiKeyScopes.Default), T0, "key_1")).Events.Single();
        Assert.Equal(("api_key.created", "key_2", "key_1", Org), (issued.Action, issued.ResourceId, issued.ActorKeyId, issued.OrganizationId));
        org = Apply(org, Decision.Accept(issued));
        var revoked = (IAuditedEvent)org.Process(new RevokeApiKey(Org, "key_2", T0, "key_1")).Events.Single();
        Assert.Equal(("api_key.revoked", "key_2", "key_1"), (revoked.Action, revoked.ResourceId, revoked.ActorKeyId));
        Assert.IsNotAssignableFrom<IAuditedEvent>(new ApiKeyUsed(Org, "key_1", T0));
    }

    [Fact]
    public void A_key_is_shown_by_its_prefix_and_never_by_its_secret_or_hash()
    {
        var (org, key) = Created();
        var view = org.ToView().ApiKeys.Single();
        Assert.Equal(24, view.Prefix.Length);
        Assert.StartsWith(view.Prefix, key);
        Assert.StartsWith("msk_" + Org[4..], view.Prefix);
        var json = System.Text.Json.JsonSerializer.Serialize(org.ToView());
        Assert.DoesNotContain(key, json);
        Assert.DoesNotContain(ApiKeySecret.Hash(key), json);
    }
}
