using System.Collections.Immutable;
using Miosa.Actors.Organizations;

namespace Miosa.Actors.Tests;

public class TenantStateTests
{
    private static readonly DateTimeOffset T0 = new(2026, 11, 28, 12, 0, 0, TimeSpan.Zero);

    private static OrganizationState Run(OrganizationState state, IOrganizationCommand command)
    {
        var decision = state.Process(command);
        Assert.Null(decision.Rejection);
        return decision.Events.Aggregate(state, (s, e) => s.Apply(e));
    }

    private static OrganizationState Organization() =>
        new OrganizationState("org_a", "", "", default, ImmutableList<ApiKeyRecord>.Empty).Apply(new OrganizationCreated("org_a", "acme", "Acme", T0));

    [Fact]
    public void Branding_and_a_verified_domain_reach_the_route_and_a_pending_domain_does_not()
    {
        var branding = new TenantBranding("https://acme.test/logo.png", "#ff0066", null);
        var state = Run(Run(Organization(), new SetBranding("org_a", branding, T0)), new SetPreviewDomain("org_a", "previews.acme.test", T0));
        Assert.Equal(branding, state.ToRoute().Branding);
        Assert.Null(state.ToRoute().PreviewDomain);
        Assert.Equal(PreviewDomainStatus.Pending, state.ToTenantView().PreviewDomain!.Status);

        var verified = Run(state, new RecordPreviewDomainVerified("org_a", "previews.acme.test", T0));
        Assert.Equal("previews.acme.test", verified.ToRoute().PreviewDomain);
        Assert.True(verified.ToRoute().Version > state.ToRoute().Version);

        // A new domain starts pending again; a check of the old one verifies nothing.
        var moved = Run(verified, new SetPreviewDomain("org_a", "p.acme.test", T0));
        Assert.Null(moved.ToRoute().PreviewDomain);
        Assert.Equal("preview_domain_changed", moved.Process(new RecordPreviewDomainVerified("org_a", "previews.acme.test", T0)).Rejection!.Code);
    }

    [Fact]
    public void Setting_the_same_branding_twice_records_nothing_and_changes_are_audited()
    {
        var branding = new TenantBranding("https://acme.test/logo.png", "#ff0066", "https://acme.test/help");
        var state = Run(Organization(), new SetBranding("org_a", branding, T0, "key_x"));
        Assert.Empty(state.Process(new SetBranding("org_a", branding, T0)).Events);
        var change = Assert.Single(state.Process(new SetBranding("org_a", branding with { AccentColor = "#000000" }, T0, "key_x")).Events);
        Assert.IsAssignableFrom<Miosa.Actors.Common.IAuditedEvent>(change);
    }
}
