using System.Collections.Immutable;
using System.Text.RegularExpressions;
using Akka.Actor;
using Miosa.Actors.Common;

namespace Miosa.Actors.Slugs;

/// <summary>Slugs are unique within a scope (e.g. all organizations, or one organization's workspaces).</summary>
public interface ISlugCommand : IEntityMessage
{
    string Scope { get; }
    string IEntityMessage.EntityId => Scope;
}

public sealed record ClaimSlug(string Scope, string Slug, string OwnerId) : ISlugCommand;

public sealed record LookupSlug(string Scope, string Slug) : ISlugCommand;

/// <summary>Frees a slug its owner no longer uses (a deleted workspace); only the owner's release counts.</summary>
public sealed record ReleaseSlug(string Scope, string Slug, string OwnerId) : ISlugCommand;

public sealed record SlugClaimed(string Scope, string Slug, string OwnerId) : IMiosaEvent;

public sealed record SlugReleased(string Scope, string Slug, string OwnerId) : IMiosaEvent;

/// <summary>Reply to a claim or lookup: the owner, or null when the slug is free.</summary>
public sealed record SlugOwner(string Slug, string? OwnerId) : IMiosaMessage;

public sealed partial record SlugRegistryState(string Scope, ImmutableDictionary<string, string> Owners) : IMiosaMessage
{
    /// <summary>A DNS label: it appears in host names.</summary>
    public static bool IsValidSlug(string? slug) => slug is not null && DnsLabel().IsMatch(slug);

    public Decision Process(ISlugCommand command) => command switch
    {
        ClaimSlug c when Scope is (SlugRegistryActor.PreviewDomainScope or SlugRegistryActor.DeploymentHostScope) && !c.Slug.Split('.').All(IsValidSlug) =>
            Decision.Reject(new Rejection("invalid_domain", "domain must be DNS labels separated by '.'.", 422, "domain")),
        ClaimSlug c when Scope is not (SlugRegistryActor.PreviewDomainScope or SlugRegistryActor.DeploymentHostScope) && !IsValidSlug(c.Slug) =>
            Decision.Reject(new Rejection("invalid_slug", "slug must be 1-63 lowercase letters, digits or '-', not starting or ending with '-'.", 422, "slug")),
        ClaimSlug c when Owners.TryGetValue(c.Slug, out var owner) => owner == c.OwnerId
            ? Decision.Nothing
            : Decision.Reject(Rejection.Conflict("slug_taken", $"The slug '{c.Slug}' is already in use.") with { Field = "slug" }),
        ClaimSlug c => Decision.Accept(new SlugClaimed(Scope, c.Slug, c.OwnerId)),
        ReleaseSlug c when Owners.GetValueOrDefault(c.Slug) == c.OwnerId => Decision.Accept(new SlugReleased(Scope, c.Slug, c.OwnerId)),
        _ => Decision.Nothing,
    };

    public SlugRegistryState Apply(IMiosaEvent @event) => @event switch
    {
        SlugClaimed e => this with { Owners = Owners.SetItem(e.Slug, e.OwnerId) },
        SlugReleased e => this with { Owners = Owners.Remove(e.Slug) },
        _ => this,
    };

    public SlugOwner OwnerOf(string slug) => new(slug, Owners.GetValueOrDefault(slug));

    /// <summary>
    /// A slug made from a display name ("My Shop!" -> "my-shop"): ASCII letters and digits kept,
    /// every other run of characters one '-', at most <paramref name="maxLength"/> characters;
    /// <paramref name="fallback"/> when nothing is left.
    /// </summary>
    public static string FromName(string name, string fallback, int maxLength = 48)
    {
        var slug = new System.Text.StringBuilder(Math.Min(name.Length, maxLength));
        foreach (var c in name.ToLowerInvariant())
        {
            if (slug.Length >= maxLength) break;
            if (char.IsAsciiLetterLower(c) || char.IsAsciiDigit(c)) slug.Append(c);
            else if (slug.Length > 0 && slug[^1] != '-') slug.Append('-');
        }
        var trimmed = slug.ToString().Trim('-');
        return trimmed.Length > 0 ? trimmed : fallback;
    }

    /// <summary>The slug with a short random suffix, for when the plain one is taken.</summary>
    public static string WithSuffix(string slug) => $"{slug}-{ResourceId.RandomToken(4)}";

    [GeneratedRegex("^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$")]
    private static partial Regex DnsLabel();
}

public sealed class SlugRegistryActor : EventSourcedEntity<SlugRegistryState>
{
    public const string Kind = "slugs";
    public const string OrganizationScope = "organizations";

    /// <summary>Tenant preview domains: one organization each, across the platform.</summary>
    public const string PreviewDomainScope = "preview-domains";

    /// <summary>Deployment host labels (<c>&lt;slug&gt;.&lt;workspace or organization slug&gt;</c>): one owner across all organizations.</summary>
    public const string DeploymentHostScope = "deployment-hosts";

    public SlugRegistryActor(string scope) : base(Kind, scope, new SlugRegistryState(scope, ImmutableDictionary<string, string>.Empty))
    {
        Command<ClaimSlug>(c => Commit(State.Process(c), s => s.OwnerOf(c.Slug)));
        Command<LookupSlug>(c => Sender.Tell(State.OwnerOf(c.Slug)));
        Command<ReleaseSlug>(c => Commit(State.Process(c), s => s.OwnerOf(c.Slug)));
    }

    protected override SlugRegistryState Apply(SlugRegistryState state, IMiosaEvent @event) => state.Apply(@event);

    public static Props PropsFor(string scope) => Props.Create(() => new SlugRegistryActor(scope));
}
