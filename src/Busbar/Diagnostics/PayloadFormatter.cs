using System.Text.Json;
using System.Text.Json.Serialization.Metadata;
using Microsoft.Extensions.Compliance.Classification;
using Microsoft.Extensions.Compliance.Redaction;

namespace Busbar.Diagnostics;

/// <summary>
/// Renders a payload as JSON for opt-in payload logging. Every member carrying a
/// <see cref="DataClassificationAttribute"/> (on the property, or on the record's constructor
/// parameter) is replaced by its redacted text before it is written, so a classified value never
/// reaches the log; with no <see cref="IRedactorProvider"/> such members are erased. Classified
/// members that are not strings are left out of the JSON.
/// </summary>
/// <remarks>
/// Works on the <see cref="JsonTypeInfo"/> contract (a resolver modifier), so it serves source-generated
/// contexts (AOT) as well as the reflection resolver. Redaction is decided once per type, when
/// System.Text.Json builds its contract, not per event.
/// </remarks>
internal sealed class PayloadFormatter
{
    private readonly JsonSerializerOptions _options;
    private readonly IRedactorProvider? _redactors;

    public PayloadFormatter(JsonSerializerOptions options, IRedactorProvider? redactors)
    {
        ArgumentNullException.ThrowIfNull(options);
        var resolver = options.TypeInfoResolver
            ?? throw new ArgumentException("JsonSerializerOptions.TypeInfoResolver must be set (a JsonSerializerContext, or DefaultJsonTypeInfoResolver) to log payloads.", nameof(options));
        _redactors = redactors;
        _options = new JsonSerializerOptions(options)
        {
            TypeInfoResolver = resolver.WithAddedModifier(Redact),
        };
        _options.MakeReadOnly();
    }

    public string Format(object payload)
    {
        try
        {
            return JsonSerializer.Serialize(payload, _options.GetTypeInfo(payload.GetType()));
        }
        catch (Exception ex) when (ex is NotSupportedException or JsonException or InvalidOperationException)
        {
            // Never fall back to ToString(): it would print classified members in clear.
            return $"<{payload.GetType().Name}: not serializable with the configured JsonSerializerOptions>";
        }
    }

    private void Redact(JsonTypeInfo typeInfo)
    {
        if (typeInfo.Kind != JsonTypeInfoKind.Object)
            return;
        for (var i = 0; i < typeInfo.Properties.Count; i++)
        {
            var property = typeInfo.Properties[i];
            var classification = GetClassification(property);
            if (classification is null)
                continue;
            if (property.PropertyType != typeof(string) || property.Get is not { } get)
            {
                // Only a string can hold a redacted text without changing the member's type (which needs
                // runtime code generation): other classified members are left out of the JSON entirely.
                property.ShouldSerialize = static (_, _) => false;
                continue;
            }

            var redactor = _redactors?.GetRedactor(classification) ?? ErasingRedactor.Instance;
            property.Get = obj => get(obj) is string value ? redactor.Redact(value) : null;
        }
    }

    private static DataClassificationSet? GetClassification(JsonPropertyInfo property)
    {
        var found = Collect(property.AttributeProvider, null);
        return Collect(property.AssociatedParameter?.AttributeProvider, found);

        static DataClassificationSet? Collect(System.Reflection.ICustomAttributeProvider? provider, DataClassificationSet? set)
        {
            if (provider is null)
                return set;
            foreach (var attribute in provider.GetCustomAttributes(typeof(DataClassificationAttribute), inherit: true))
            {
                var classification = ((DataClassificationAttribute)attribute).Classification;
                set = set is null ? new DataClassificationSet(classification) : set.Union(new DataClassificationSet(classification));
            }

            return set;
        }
    }

    private sealed class ErasingRedactor : Redactor
    {
        public static readonly ErasingRedactor Instance = new();

        public override int GetRedactedLength(ReadOnlySpan<char> input) => 0;

        public override int Redact(ReadOnlySpan<char> source, Span<char> destination) => 0;
    }
}
