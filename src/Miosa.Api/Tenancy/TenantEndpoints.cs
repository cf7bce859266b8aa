using Akka.Actor;
using Akka.Hosting;
using Miosa.Actors.Common;
using Miosa.Actors.Hosting;
using Miosa.Actors.Organizations;
using Miosa.Actors.Slugs;
using Miosa.Api.Http;
using Miosa.HostAgent.Ingress;

namespace Miosa.Api.Tenancy;

/// <summary>White-label settings: the branding of edge pages and the organization's own preview domain.</summary>
public static class TenantEndpoints
{
    private static readonly TimeSpan AskTimeout = TimeSpan.FromSeconds(10);

    public static void MapTenantEndpoints(this RouteGroupBuilder v1, MiosaNodeOptions options)
    {
        v1.MapGet("/tenant/branding", async (HttpContext http, IRequiredActor<OrganizationActor> organizations, CancellationToken ct) =>
            await organizations.ActorRef.AskEntity<TenantView>(new GetTenant(http.Caller().OrganizationId), t => Results.Json(BrandingJson(t.Branding)), ct));

        v1.MapPut("/tenant/branding", async (HttpContext http, IRequiredActor<OrganizationActor> organizations, CancellationToken ct) =>
        {
            var (body, error) = await JsonRequest.ReadAsync(http.Request, ct);
            if (body is null) return error!.ToResult();
            var logo = body.String("logo_url", required: true, maxLength: 2048);
            var accent = body.String("accent_color", required: true, maxLength: 7);
            var support = body.String("support_url", maxLength: 2048);
            if (body.Error is { } invalid) return invalid.ToResult();
            if (!IsHttpsUrl(logo!)) return Problems.Invalid("logo_url", "logo_url must be an absolute https:// URL.");
            if (!IsHexColor(accent!)) return Problems.Invalid("accent_color", "accent_color must be a colour like #1a2b3c.");
            if (support is not null && !IsHttpsUrl(support)) return Problems.Invalid("support_url", "support_url must be an absolute https:// URL.");
            var caller = http.Caller();
            var command = new SetBranding(caller.OrganizationId, new TenantBranding(logo!, accent!.ToLowerInvariant(), support), DateTimeOffset.UtcNow, caller.KeyId);
            return await organizations.ActorRef.AskEntity<TenantView>(command, t => Results.Json(BrandingJson(t.Branding)), ct);
        });

        var cnameTarget = options.PreviewCnameTarget;
        v1.MapGet("/tenant/preview-domain", async (HttpContext http, IRequiredActor<OrganizationActor> organizations, CancellationToken ct) =>
            await organizations.ActorRef.AskEntity<TenantView>(new GetTenant(http.Caller().OrganizationId), t => t.PreviewDomain is { } d
                ? Results.Json(DomainJson(d, cnameTarget))
                : DomainNotSet(), ct));

        v1.MapPut("/tenant/preview-domain", async (HttpContext http, IRequiredActor<OrganizationActor> organizations, IRequiredActor<SlugRegistryActor> names,
            CancellationToken ct) =>
        {
            var (body, error) = await JsonRequest.ReadAsync(http.Request, ct);
            if (body is null) return error!.ToResult();
            var domain = body.String("domain", required: true, maxLength: 253);
            if (body.Error is { } invalid) return invalid.ToResult();
            if (PreviewDomainCheck.ValidateDomain(domain!, options.BaseDomain) is { } problem) return Problems.Invalid("domain", problem);
            var caller = http.Caller();
            var current = (TenantView)await organizations.ActorRef.Ask<object>(new GetTenant(caller.OrganizationId), AskTimeout, ct);
            // The domain is claimed platform-wide first: two organizations never serve on one domain.
            var claim = await names.ActorRef.Ask<object>(new ClaimSlug(SlugRegistryActor.PreviewDomainScope, domain!, caller.OrganizationId), AskTimeout, ct);
            if (claim is Rejection taken)
                return (taken.Code == "slug_taken" ? Rejection.Conflict("preview_domain_taken", $"{domain} is another organization's preview domain.") with { Field = "domain" } : taken).ToResult();
            var answer = await organizations.ActorRef.Ask<object>(new SetPreviewDomain(caller.OrganizationId, domain!, DateTimeOffset.UtcNow, caller.KeyId), AskTimeout, ct);
            if (answer is Rejection rejection) return rejection.ToResult();
            if (current.PreviewDomain?.Domain is { } old && old != domain)
                names.ActorRef.Tell(new ReleaseSlug(SlugRegistryActor.PreviewDomainScope, old, caller.OrganizationId));
            return Results.Json(DomainJson(((TenantView)answer).PreviewDomain!, cnameTarget));
        });

        v1.MapPost("/tenant/preview-domain/verify", async (HttpContext http, IRequiredActor<OrganizationActor> organizations, PreviewDomainCheck check,
            CancellationToken ct) =>
        {
            var caller = http.Caller();
            var tenant = (TenantView)await organizations.ActorRef.Ask<object>(new GetTenant(caller.OrganizationId), AskTimeout, ct);
            if (tenant.PreviewDomain is not { } domain) return DomainNotSet();
            var result = await check.CheckAsync(domain.Domain, cnameTarget, ct);
            if (!result.Verified) return Results.Json(new { domain = domain.Domain, status = "pending", detail = result.Detail, cname_target = cnameTarget });
            var answer = await organizations.ActorRef.Ask<object>(
                new RecordPreviewDomainVerified(caller.OrganizationId, domain.Domain, DateTimeOffset.UtcNow, caller.KeyId), AskTimeout, ct);
            return answer is Rejection rejection
                ? rejection.ToResult()
                : Results.Json(new { domain = domain.Domain, status = "verified", detail = result.Detail, cname_target = cnameTarget });
        });
    }

    private static object BrandingJson(TenantBranding? b) =>
        new { logo_url = b?.LogoUrl, accent_color = b?.AccentColor, support_url = b?.SupportUrl };

    private static object DomainJson(TenantPreviewDomain d, string cnameTarget) => new
    {
        domain = d.Domain,
        status = d.Status.ToString().ToLowerInvariant(),
        cname_target = cnameTarget,
        verified_at = d.VerifiedAt,
    };

    private static IResult DomainNotSet() =>
        Problems.Of(404, "preview_domain_not_set", "This organization has no preview domain; PUT /v1/tenant/preview-domain first.");

    private static bool IsHttpsUrl(string value) =>
        Uri.TryCreate(value, UriKind.Absolute, out var uri) && uri.Scheme == Uri.UriSchemeHttps && uri.Host.Length > 0 && !value.Any(char.IsWhiteSpace);

    private static bool IsHexColor(string value) =>
        value.Length == 7 && value[0] == '#' && value.AsSpan(1).IndexOfAnyExcept("0123456789abcdefABCDEF") < 0;
}
