using System.ComponentModel.DataAnnotations;
using System.Diagnostics.CodeAnalysis;

namespace Busbar.Dispatch;

/// <summary>Validation at publish: registered <see cref="IEventValidator{T}"/> and, opt-in, DataAnnotations.</summary>
internal sealed class BusValidation(IReadOnlyList<BusValidation.Registration> validators, bool dataAnnotations)
{
    public static readonly BusValidation None = new([], false);

    public bool HasValidators { get; } = validators.Count > 0 || dataAnnotations;

    public void Validate(object @event, Type type, string name)
    {
        if (!HasValidators)
            return;
        List<ValidationResult>? errors = null;
        foreach (var registration in validators)
        {
            if (registration.EventType.IsAssignableFrom(type))
                registration.Validate(@event, errors ??= []);
        }

        if (dataAnnotations)
            ValidateAnnotations(@event, errors ??= []);
        if (errors is { Count: > 0 })
            throw new EventValidationException(name, errors);
    }

    [UnconditionalSuppressMessage("Trimming", "IL2026", Justification = "DataAnnotations validation is opt-in through EventBusBuilder.UseDataAnnotations, which carries RequiresUnreferencedCode.")]
    private static void ValidateAnnotations(object @event, List<ValidationResult> errors) =>
        Validator.TryValidateObject(@event, new ValidationContext(@event), errors, validateAllProperties: true);

    internal sealed record Registration(Type EventType, Action<object, ICollection<ValidationResult>> Validate);
}
