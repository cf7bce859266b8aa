using Akka.Actor;
using Miosa.Actors.Common;
using Miosa.Actors.Slugs;
using Miosa.Api.Http;

namespace Miosa.Api.Workspaces;

/// <summary>Claims and frees the slugs of workspaces and projects in their organization's scope.</summary>
public static class ResourceSlugs
{
    private static readonly TimeSpan AskTimeout = TimeSpan.FromSeconds(10);
    private const int Attempts = 5;

    public static Rejection Invalid { get; } = new("invalid_slug",
        "slug must be a DNS label: 1-63 lowercase letters, digits or '-', not starting or ending with '-'.", 422, "slug");

    /// <summary>
    /// Claims <paramref name="requested"/> as given (409 <c>slug_taken</c> when in use), or, without
    /// one, a slug made from the name, with a short random suffix when the plain one is taken.
    /// </summary>
    public static async Task<(string? Slug, Rejection? Rejection)> ClaimAsync(
        IActorRef slugs, string scope, string? requested, string name, string fallback, string ownerId, CancellationToken ct)
    {
        if (requested is not null) return await TryAsync(requested);
        var plain = SlugRegistryState.FromName(name, fallback);
        var candidate = plain;
        for (var attempt = 1; ; attempt++)
        {
            var (slug, rejection) = await TryAsync(candidate);
            if (slug is not null || rejection!.Code != "slug_taken" || attempt == Attempts) return (slug, rejection);
            candidate = SlugRegistryState.WithSuffix(plain);
        }

        async Task<(string?, Rejection?)> TryAsync(string slug) =>
            await slugs.Ask<object>(new ClaimSlug(scope, slug, ownerId), AskTimeout, ct) is Rejection r ? (null, r) : (slug, null);
    }

    /// <summary>Frees the slug if <paramref name="ownerId"/> still holds it, so it can be used again.</summary>
    public static Task ReleaseAsync(IActorRef slugs, string scope, string slug, string ownerId, CancellationToken ct) =>
        slugs.Ask<object>(new ReleaseSlug(scope, slug, ownerId), AskTimeout, ct);

    /// <summary>Name, slug and metadata as every container resource reads them; the first bad field is in body.Error.</summary>
    public static (string? Name, string? Slug, IReadOnlyDictionary<string, string>? Metadata) ReadCommon(JsonRequest body) => (
        body.String("name", required: true, maxLength: 200),
        body.String("slug", maxLength: 63),
        body.StringMap("metadata", k => k.Length is > 0 and <= 64, maxEntries: 50, maxValueLength: 512));
}
