using Akka.Actor;
using Akka.Hosting;
using Miosa.Actors.Common;
using Miosa.Actors.Organizations;
using Miosa.Actors.Slugs;

namespace Miosa.Api.Organizations;

/// <summary>Creates organizations: claims the slug, then creates the organization with its first key.</summary>
public sealed class OrganizationRegistry(IRequiredActor<SlugRegistryActor> slugs, IRequiredActor<OrganizationActor> organizations)
{
    private static readonly TimeSpan AskTimeout = TimeSpan.FromSeconds(10);

    public async Task<((OrganizationView Organization, string Key)? Created, Rejection? Rejection)> CreateAsync(
        string slug, string name, CancellationToken ct, Func<string, Task>? beforeCommit = null)
    {
        var id = ResourceId.New(IdPrefix.Organization);
        var claim = await slugs.ActorRef.Ask<object>(new ClaimSlug(SlugRegistryActor.OrganizationScope, slug, id), AskTimeout, ct);
        if (claim is Rejection rejection) return (null, rejection);
        return await CreateClaimedAsync(id, slug, name, ct, beforeCommit);
    }

    /// <summary>Creates the organization for a slug already claimed for <paramref name="id"/> (also after a crash in between).</summary>
    public async Task<((OrganizationView Organization, string Key)? Created, Rejection? Rejection)> CreateClaimedAsync(
        string id, string slug, string name, CancellationToken ct, Func<string, Task>? beforeCommit = null)
    {
        var key = ApiKeySecret.Issue(id);
        // The key is shown once: whoever must keep it (the default key file) does so before it is valid.
        if (beforeCommit is not null) await beforeCommit(key);
        var answer = await organizations.ActorRef.Ask<object>(
            new CreateOrganization(id, slug, name, ApiKeyGrant.For(ResourceId.New(IdPrefix.ApiKey), "default", key, ApiKeyScopes.Default), DateTimeOffset.UtcNow),
            AskTimeout, ct);
        return answer is OrganizationView view ? ((view, key), null) : (null, (Rejection)answer);
    }

    public async Task<string?> OwnerOfSlugAsync(string slug, CancellationToken ct) =>
        (await slugs.ActorRef.Ask<SlugOwner>(new LookupSlug(SlugRegistryActor.OrganizationScope, slug), AskTimeout, ct)).OwnerId;

    public async Task<bool> ExistsAsync(string organizationId, CancellationToken ct) =>
        await organizations.ActorRef.Ask<object>(new GetOrganization(organizationId), AskTimeout, ct) is OrganizationView;
}
