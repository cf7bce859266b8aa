using Miosa.Actors.Common;

namespace Miosa.Actors.Organizations;

/// <summary>How the organization's users see Miosa's pages: its logo and colour, never Miosa's wordmark.</summary>
public sealed record TenantBranding(string LogoUrl, string AccentColor, string? SupportUrl);

public enum PreviewDomainStatus { Pending, Verified }

/// <summary>The organization's own preview domain; previews answer on it once its CNAME is verified.</summary>
public sealed record TenantPreviewDomain(string Domain, PreviewDomainStatus Status, DateTimeOffset? VerifiedAt);

/// <summary>White-label settings of one organization (held by its entity: one of each per organization).</summary>
public interface ITenantCommand : IOrganizationCommand;

public sealed record GetTenant(string OrganizationId) : ITenantCommand;

public sealed record SetBranding(string OrganizationId, TenantBranding Branding, DateTimeOffset At, string? ActorKeyId = null) : ITenantCommand;

public sealed record SetPreviewDomain(string OrganizationId, string Domain, DateTimeOffset At, string? ActorKeyId = null) : ITenantCommand;

/// <summary>The DNS check found the domain's CNAME pointing at the edge.</summary>
public sealed record RecordPreviewDomainVerified(string OrganizationId, string Domain, DateTimeOffset At, string? ActorKeyId = null) : ITenantCommand;

public sealed record BrandingChanged(string OrganizationId, TenantBranding Branding, DateTimeOffset At, string? ActorKeyId = null) : IAuditedEvent
{
    string IAuditedEvent.Action => "tenant.branding_changed";
    string IAuditedEvent.ResourceId => OrganizationId;
}

public sealed record PreviewDomainSet(string OrganizationId, string Domain, DateTimeOffset At, string? ActorKeyId = null) : IAuditedEvent
{
    string IAuditedEvent.Action => "tenant.preview_domain_set";
    string IAuditedEvent.ResourceId => OrganizationId;
}

public sealed record PreviewDomainVerified(string OrganizationId, string Domain, DateTimeOffset At, string? ActorKeyId = null) : IAuditedEvent
{
    string IAuditedEvent.Action => "tenant.preview_domain_verified";
    string IAuditedEvent.ResourceId => OrganizationId;
}

public sealed record TenantView(string OrganizationId, TenantBranding? Branding, TenantPreviewDomain? PreviewDomain) : IMiosaMessage;
