"""Ask one question and print the answer, token usage and metadata."""

from langchain_nebula import ChatNebula

model = ChatNebula(model="meta-llama/Llama-3.3-70B-Instruct", temperature=0)
reply = model.invoke(
    [
        ("system", "Answer in one sentence."),
        ("human", "Is Montreal a thriving hub for the AI industry?"),
    ]
)
print(reply.content)
print("usage:", reply.usage_metadata)
print(
    "model:", reply.response_metadata["model_name"], "-", reply.response_metadata["finish_reason"]
)
